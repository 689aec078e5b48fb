"""Home page panel for order CSV imports: those running and those that failed lately
(found through ``orders.dashboard``)."""

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from console.pages.dashboard import Row, register
from orders.imports import selectors
from orders.imports.models import Import


@register(
    key="imports",
    title="Imports running or failed",
    order=40,
    permission="orders.view_import",
    url=lambda: reverse("admin:orders_import_changelist"),
    empty="No import is running, none failed in the last 7 days.",
)
def imports_running_or_failed(request) -> list[Row]:
    rows = []
    watched = selectors.imports_to_watch(user=request.user, failed_since=timezone.now() - timedelta(days=7))
    for import_run in watched:
        url = reverse("admin:orders_import_change", args=[import_run.pk])
        name = import_run.original_name or import_run.key
        if import_run.status == Import.Status.FAILED:
            rows.append(Row(name, "failed", url, tone="bad", detail=import_run.error[:120]))
        elif import_run.status == Import.Status.REJECTED:
            rows.append(Row(name, "rejected (strict)", url, tone="warn", detail=f"{import_run.rows_rejected} bad rows"))
        else:
            detail = (
                f"{import_run.get_phase_display().lower()}, {import_run.chunks_done}/{import_run.chunks_total} chunks"
            )
            rows.append(Row(name, f"{import_run.progress_percent}%", url, detail=detail))
    return rows
