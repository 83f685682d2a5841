from panel_service.web.coordinators.views import bp

__all__ = ["bp"]
