"""An object's HISTORY page made of what the audit log holds about it.

Django's history page lists only the changes made through its own add/change forms
(``LogEntry``): rows written by services (an approval's claims and decisions, an import's
runs) have none there, and the page said "no change history" beside a page full of it.
``AuditHistoryMixin`` shows the object's audit entries (who, what, why, before and after,
request ids), with Django's own entries below them where there are any, and facts a model
admin adds that were never audited (when a row was created by a process, not a person).
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.http import HttpRequest

from console.models import AuditEntry
from console.platform.audit import MOVED_OBJECT_TYPES

# An object's history page shows this many of its latest entries (the audit log has all).
HISTORY_LIMIT = 500


@dataclass(frozen=True)
class HistoryRow:
    at: datetime
    action: str
    who: str = ""
    source: str = ""
    reason: str = ""
    before: Any = None
    after: Any = None
    request_id: str = ""
    aws_request_id: str = ""
    # False for a fact the model admin adds (``history_facts``): not an audit entry.
    audited: bool = True


def audit_history(*, object_type: str, object_id: str, limit: int = HISTORY_LIMIT) -> tuple[list[HistoryRow], bool]:
    """The object's audit entries, oldest first, and whether older ones were left out.
    Entries written under a model's old label (``MOVED_OBJECT_TYPES``) are included."""
    types = [object_type, *(old for old, new in MOVED_OBJECT_TYPES.items() if new == object_type)]
    entries = list(
        AuditEntry.objects.filter(object_type__in=types, object_id=object_id).order_by("-created_at", "-id")[
            : limit + 1
        ]
    )
    more = len(entries) > limit
    rows = [
        HistoryRow(
            at=entry.created_at,
            action=entry.action,
            who=entry.actor_name,
            source=entry.get_source_display(),
            reason=entry.reason,
            before=entry.before,
            after=entry.after,
            request_id=entry.request_id,
            aws_request_id=entry.aws_request_id,
        )
        for entry in reversed(entries[:limit])
    ]
    return rows, more


class AuditHistoryMixin:
    """For a ``ModelAdmin``: its objects' HISTORY pages show their audit trail.

    ``history_facts(obj)`` may add rows the audit log does not hold (e.g. the moment a
    process created the row); they are merged in by time.
    """

    object_history_template = "admin/audit_history.html"

    def history_facts(self, obj) -> list[HistoryRow]:
        return []

    def history_view(self, request: HttpRequest, object_id: str, extra_context: dict | None = None):
        obj = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if obj is not None:  # else Django's view redirects, as for any missing object
            rows, more = audit_history(object_type=self.model._meta.label_lower, object_id=str(obj.pk))
            rows = sorted([*rows, *self.history_facts(obj)], key=lambda row: row.at)
            extra.update({"history_rows": rows, "history_truncated": more, "history_limit": HISTORY_LIMIT})
        return super().history_view(request, object_id, extra)
