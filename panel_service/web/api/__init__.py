from apiflask import APIBlueprint

from panel_service.extensions import csrf

bp = APIBlueprint("api", __name__, url_prefix="/api/v1")
# The API authenticates with a bearer token in a header, which a browser never sends on its own,
# so cross-site request forgery has nothing to ride on; the web pages keep CSRF on every form.
csrf.exempt(bp)

from panel_service.web.api import views  # noqa: E402,F401  (views register on bp)
