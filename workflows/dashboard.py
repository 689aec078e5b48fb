"""Home page panels of the workflow app (registered with console.pages.dashboard)."""

from datetime import timedelta

from django.db.models import Count, Min
from django.urls import reverse
from django.utils import timezone

from console.pages.dashboard import Row, register
from console.platform.timefmt import duration
from workflows.models import Approval, CompensationStatus, Execution


@register(
    key="approvals",
    title="Approvals waiting",
    order=10,
    permission="workflows.view_approval",
    url=lambda: reverse("admin:workflows_approval_changelist"),
    empty="No order waits for a decision.",
)
def approvals_waiting(request) -> list[Row]:
    pending = Approval.objects.filter(status=Approval.Status.PENDING).aggregate(
        n=Count("id"), oldest=Min("requested_at")
    )
    if not pending["n"]:
        return []
    waiting = duration(pending["oldest"])
    return [
        Row(
            "Orders waiting for a decision",
            pending["n"],
            reverse("admin:workflows_approval_changelist"),
            tone="warn",
            detail=f"oldest waiting {waiting}",
        )
    ]


@register(
    key="failed-executions",
    title="Failed executions (7 days)",
    order=40,
    permission="workflows.view_execution",
    url=lambda: reverse("admin:workflows_execution_changelist"),
    empty="No workflow failed in the last 7 days.",
)
def failed_executions(request) -> list[Row]:
    since = timezone.now() - timedelta(days=7)
    rows = (
        Execution.objects.filter(status__in=Execution.FAILURE_STATUSES, created_at__gte=since)
        .exclude(error__in=Execution.DESIGNED_ENDINGS)
        .values("status")
        .annotate(n=Count("id"))
        .order_by("status")
    )
    url = reverse("admin:workflows_execution_changelist")
    failed = [
        Row(
            Execution.Status(row["status"]).label,
            row["n"],
            f"{url}?status__exact={row['status']}&ending=failure",
            tone="bad",
        )
        for row in rows
    ]
    # Whatever their age: an order that kept what it took waits for an operator's retry.
    uncompensated = Execution.objects.filter(compensation_status=CompensationStatus.FAILED).count()
    if uncompensated:
        failed.append(Row("Compensation failed", uncompensated, f"{url}?compensation_status__exact=FAILED", tone="bad"))
    return failed
