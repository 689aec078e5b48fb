"""Writing the audit log. Call inside the same transaction as the change it records."""

from typing import Any

from console.context import current_request_id
from console.models import AuditEntry


def audit_record(
    *,
    action: str,
    obj: Any = None,
    object_type: str = "",
    object_id: str = "",
    actor=None,
    source: str = AuditEntry.Source.SYSTEM,
    reason: str = "",
    before: dict | None = None,
    after: dict | None = None,
    aws_request_id: str = "",
) -> AuditEntry:
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = object_id or str(obj.pk)
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEntry.objects.create(
        action=action,
        object_type=object_type,
        object_id=object_id,
        actor=actor if is_user else None,
        actor_name=actor.get_username() if is_user else "",
        source=source,
        reason=reason,
        before=before,
        after=after,
        request_id=current_request_id(),
        aws_request_id=aws_request_id,
    )
