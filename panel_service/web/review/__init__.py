from flask import Blueprint

bp = Blueprint("review", __name__, url_prefix="/review")

from panel_service.web.review import views  # noqa: E402,F401  (views register on bp)
