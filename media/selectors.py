"""Reads of media assets and imports."""

import csv
from collections.abc import Iterator

from django.db.models import QuerySet

from console.spreadsheet import neutralise_row
from media.models import Import, MediaAsset, RejectedRow


def import_list(*, filters: dict | None = None) -> QuerySet[Import]:
    filters = filters or {}
    qs = Import.objects.select_related("created_by")
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if key := filters.get("key"):
        qs = qs.filter(key=key)
    if (dry_run := filters.get("dry_run")) is not None:
        qs = qs.filter(dry_run=dry_run)
    return qs.order_by("-created_at", "-id")


def imports_to_watch(*, failed_since, limit: int = 10) -> list[Import]:
    """Imports running (or waiting to start), then those failed or rejected since
    ``failed_since``: newest first, at most ``limit`` (a home page panel)."""
    from django.db.models import Q

    return list(
        Import.objects.filter(
            Q(status__in=[Import.Status.PENDING, Import.Status.RUNNING])
            | Q(status__in=[Import.Status.FAILED, Import.Status.REJECTED], finished_at__gte=failed_since)
        ).order_by("-created_at")[:limit]
    )


def import_get(*, import_id) -> Import:
    """Raises Import.DoesNotExist."""
    return Import.objects.select_related("created_by").get(pk=import_id)


def rejected_rows_csv(*, import_run: Import) -> Iterator[str]:
    """The rejected rows as CSV lines: where, why, then the row's cells as in the file.
    Cells a spreadsheet would take for formulas are neutralised (console.spreadsheet)."""

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


def media_asset_list() -> QuerySet[MediaAsset]:
    return MediaAsset.objects.select_related("uploaded_by").order_by("-created_at")
