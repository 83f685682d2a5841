"""Rate-limit keys: per account, whichever way (API token or web session) it signed in."""

from __future__ import annotations

from typing import Any

from flask import g
from flask_limiter.util import get_remote_address
from flask_login import current_user


def account_key() -> str:
    """Limits such as feasibility's count per coordinator, not per address, so that one person
    cannot spread queries over tokens or browsers."""
    account_id = g.get("api_account_id")
    if account_id is None and current_user.is_authenticated:
        account_id = current_user.account_id
    return f"account:{account_id}" if account_id is not None else f"ip:{get_remote_address()}"


def _feasibility_limit() -> str:
    from panel_service.extensions import settings

    return settings().feasibility_rate_limit


def feasibility_limit() -> Any:
    """One budget per coordinator for feasibility, shared by the API and the web page, so that
    switching between them does not double the number of slightly different queries (P4)."""
    from panel_service.extensions import limiter

    return limiter.shared_limit(_feasibility_limit, scope="feasibility", key_func=account_key)
