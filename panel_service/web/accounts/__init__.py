from panel_service.web.accounts.views import bp

__all__ = ["bp"]
