"""Reads of order CSV imports, and who may see and act on which.

The one place imports are scoped to their user: someone with ``orders.view_all_imports``
sees all of them, as console staff do; anyone else, an API client, only those they
created, and may import only objects they uploaded. Every list, page and action goes
through these.
"""

import csv
from collections.abc import Iterator
from datetime import datetime

from django.db.models import Q, QuerySet

from console.platform.spreadsheet import neutralise_row
from orders.imports.models import VIEW_ALL_IMPORTS, CsvUpload, Import, RejectedRow


def imports_visible_to(*, user) -> QuerySet[Import]:
    """The imports ``user`` sees and acts on: all with ``orders.view_all_imports``, else
    the ones they created (an import the S3 event started belongs to the uploader)."""
    qs = Import.objects.select_related("created_by")
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    if user.has_perm(VIEW_ALL_IMPORTS):
        return qs
    return qs.filter(created_by=user)


def import_object_allowed(*, user, key: str) -> bool:
    """Whether ``user`` may import the object at ``key``: any with
    ``orders.view_all_imports``, else one they uploaded (or already imported or dry-ran)."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.has_perm(VIEW_ALL_IMPORTS):
        return True
    return (
        CsvUpload.objects.filter(key=key, uploaded_by=user).exists()
        or Import.objects.filter(key=key, created_by=user).exists()
    )


def import_list(*, user, filters: dict | None = None) -> QuerySet[Import]:
    filters = filters or {}
    qs = imports_visible_to(user=user)
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if key := filters.get("key"):
        qs = qs.filter(key=key)
    if (dry_run := filters.get("dry_run")) is not None:
        qs = qs.filter(dry_run=dry_run)
    return qs.order_by("-created_at", "-id")


def imports_to_watch(*, user, failed_since: datetime, limit: int = 10) -> list[Import]:
    """Imports ``user`` sees running (or waiting to start), then those failed or rejected
    since ``failed_since``: newest first, at most ``limit`` (a home page panel)."""
    return list(
        imports_visible_to(user=user)
        .filter(
            Q(status__in=[Import.Status.PENDING, Import.Status.RUNNING])
            | Q(status__in=[Import.Status.FAILED, Import.Status.REJECTED], finished_at__gte=failed_since)
        )
        .order_by("-created_at")[:limit]
    )


def import_get(*, user, import_id) -> Import:
    """Raises Import.DoesNotExist, also for an import ``user`` may not see."""
    return imports_visible_to(user=user).get(pk=import_id)


def rejected_rows_csv(*, import_run: Import) -> Iterator[str]:
    """The rejected rows as CSV lines: where, why, then the row's cells as in the file.
    Cells a spreadsheet would take for formulas are neutralised (console.platform.spreadsheet)."""

    class Line:
        def write(self, value: str) -> str:
            return value

    writer = csv.writer(Line())
    yield writer.writerow(["line", "column", "reason", *(import_run.columns or [])])
    rows = RejectedRow.objects.filter(import_run=import_run).order_by("line", "id")
    for row in rows.values_list("line", "column", "reason", "values").iterator(chunk_size=2000):
        line, column, reason, values = row
        yield writer.writerow(neutralise_row([line, column, reason, *(values or [])]))


def rejected_rows_page(*, import_run: Import, limit: int = 200) -> list[RejectedRow]:
    return list(RejectedRow.objects.filter(import_run=import_run).order_by("line", "id")[:limit])
