"""The JSON API (product contract §8); ``bp`` is defined in ``views``."""

from panel_service.web.api.views import bp

__all__ = ["bp"]
