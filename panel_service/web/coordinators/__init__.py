from flask import Blueprint

bp = Blueprint("coordinators", __name__, url_prefix="/coordinators")

from panel_service.web.coordinators import views  # noqa: E402,F401  (views register on bp)
