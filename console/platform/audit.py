"""Writing the audit log (call inside the same transaction as the change it records), and
reading it."""

from typing import Any

from django.db.models import QuerySet

from console.models import AuditEntry
from console.platform.context import current_request_id


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


# --- Reading: what an entry is about ------------------------------------------------------


# Models that moved to another app: the entries written before name them by their old
# label, and keep it (the log is append-only). Order CSV imports moved from media to orders.
MOVED_OBJECT_TYPES = {"media.import": "orders.import"}


def audited_model(object_type: str) -> Any:
    """The model an entry's ``object_type`` ("orders.order") names, or None."""
    from django.apps import apps

    try:
        return apps.get_model(MOVED_OBJECT_TYPES.get(object_type, object_type))
    except (LookupError, ValueError):
        return None


def audited_ref(user: Any, object_type: str, object_id: str) -> tuple[str, str]:
    """("Order 109b1172", its console page or "") for an entry's object, without reading it:
    ids as the lists show them (a UUID by its first 8 characters); a page only for a model
    the user may view."""
    from django.urls import NoReverseMatch, reverse

    model = audited_model(object_type)
    short_id = object_id[:8] if len(object_id) == 36 else object_id
    if model is None:
        return f"{object_type} {short_id}".strip(), ""
    opts = model._meta
    name = f"{opts.verbose_name.capitalize()} {short_id}".strip()
    if not object_id or not user.has_perm(f"{opts.app_label}.view_{opts.model_name}"):
        return name, ""
    try:
        return name, reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
    except NoReverseMatch:
        return name, ""


def audit_entry_list(*, filters: dict | None = None) -> QuerySet[AuditEntry]:
    """Entries newest first, filtered by what each names: ``object_type`` ("orders.order";
    entries written under a model's old label included) and ``object_id``, ``actor`` (the
    username, as recorded), ``action`` ("execution.restart"; ending with a dot, every action
    under it: "execution."). Each filter is an indexed column."""
    filters = filters or {}
    qs = AuditEntry.objects.all()
    if object_type := filters.get("object_type"):
        old_labels = [old for old, new in MOVED_OBJECT_TYPES.items() if new == object_type]
        qs = qs.filter(object_type__in=[object_type, *old_labels])
    if object_id := filters.get("object_id"):
        qs = qs.filter(object_id=object_id)
    if actor := filters.get("actor"):
        qs = qs.filter(actor_name=actor)
    if action := filters.get("action"):
        qs = qs.filter(action__startswith=action) if action.endswith(".") else qs.filter(action=action)
    return qs.order_by("-created_at", "-id")
