from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from panel_service.models import Account, AuditEvent


def record(
    session: Session,
    actor: Account | None,
    action: str,
    subject_type: str,
    subject_id: object,
    details: dict[str, Any] | None = None,
    *,
    actor_label: str | None = None,
) -> AuditEvent:
    """Append an audit event in the caller's transaction (so it commits with the act itself)."""
    event = AuditEvent(
        actor_id=actor.id if actor is not None else None,
        actor_label=actor_label or (f"{actor.role}:{actor.id}" if actor is not None else "system"),
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        details=details or {},
    )
    session.add(event)
    return event
