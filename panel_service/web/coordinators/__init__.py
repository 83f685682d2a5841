from panel_service.web.coordinators import builder  # the criteria builder's views on the same bp
from panel_service.web.coordinators.views import bp

__all__ = ["bp", "builder"]
