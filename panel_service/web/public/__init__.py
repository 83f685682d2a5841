from panel_service.web.public.views import bp

__all__ = ["bp"]
