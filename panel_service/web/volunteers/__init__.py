from flask import Blueprint

bp = Blueprint("volunteers", __name__)

from panel_service.web.volunteers import views  # noqa: E402, F401 - importing registers the routes
