"""The question catalogue's plain pages (ARCHITECTURE §4a; the polished ones are issue 13):
admins list, add, edit the wording of and retire questions; volunteers answer them, one
section per page."""

from panel_service.web.questions.views import bp

__all__ = ["bp"]
