"""The workflow panels of the home page."""

import pytest
from django.urls import reverse

from console.pages.dashboard import panels_for
from tests.factories import OrderFactory
from workflows.models import Execution

pytestmark = pytest.mark.django_db


def failed_panel(rf, user) -> dict[str, int]:
    request = rf.get("/")
    request.user = user
    panel = next(p for p in panels_for(request) if p.key == "failed-executions")
    return {row.label: row.value for row in panel.rows}


def test_failed_executions_count_real_failures_not_rejections_or_cancellations(rf, support_user, settings):
    settings.DASHBOARD_CACHE_SECONDS = 0
    order = OrderFactory()
    ended = {
        "rejected": ("FAILED", "OrderRejected"),
        "cancelled": ("FAILED", "OrderCancelled"),
        "broken": ("FAILED", "OrderProcessingFailed"),
        "states": ("FAILED", "States.TaskFailed"),
        "late": ("TIMED_OUT", "States.Timeout"),
        "fine": ("SUCCEEDED", ""),
    }
    for name, (status, error) in ended.items():
        Execution.objects.create(order=order, name=f"order-{name}", state_machine="m", status=status, error=error)

    assert failed_panel(rf, support_user) == {"Failed": 2, "Timed out": 1}


def test_the_failed_row_leads_to_the_same_failures(rf, support_user, settings, client):
    settings.DASHBOARD_CACHE_SECONDS = 0
    order = OrderFactory()
    endings = {"rejected": "OrderRejected", "cancelled": "OrderCancelled", "broken": "States.TaskFailed"}
    for name, error in endings.items():
        Execution.objects.create(order=order, name=f"order-{name}", state_machine="m", status="FAILED", error=error)
    request = rf.get("/")
    request.user = support_user
    panel = next(p for p in panels_for(request) if p.key == "failed-executions")
    (row,) = panel.rows
    client.force_login(support_user)
    listed = client.get(row.url).content.decode()
    assert "order-broken" in listed
    assert "order-rejected" not in listed and "order-cancelled" not in listed
    designed = client.get(reverse("admin:workflows_execution_changelist") + "?ending=designed").content.decode()
    assert "order-rejected" in designed and "order-cancelled" in designed and "order-broken" not in designed


def test_no_failure_says_so(rf, support_user, settings, client):
    settings.DASHBOARD_CACHE_SECONDS = 0
    Execution.objects.create(
        order=OrderFactory(), name="order-no", state_machine="m", status="FAILED", error="OrderRejected"
    )
    assert failed_panel(rf, support_user) == {}
    client.force_login(support_user)
    page = client.get(reverse("admin:index")).content.decode()
    assert "No workflow failed in the last 7 days." in page
