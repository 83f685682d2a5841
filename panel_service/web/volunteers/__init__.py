from panel_service.web.volunteers.views import bp

__all__ = ["bp"]
