"""Answer and unsubscribe links from invitation emails (product contract §6.5).

A GET only shows what will happen (mail scanners follow links); the POST does it, once."""

from panel_service.web.answers.views import bp

__all__ = ["bp"]
