from panel_service.web.review.views import bp

__all__ = ["bp"]
