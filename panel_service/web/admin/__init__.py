"""Admin pages: create coordinators and reviewers (the web twin of ``panel users create``); a
study's invitations (the web twin of ``panel invitations show``)."""

from panel_service.web.admin.views import bp

__all__ = ["bp"]
