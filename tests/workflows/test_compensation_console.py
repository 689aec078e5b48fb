"""A compensation that failed, as operators see it (the execution's page, the order's page,
the home page's failed executions) and retry it; and the order saga started from an order's
page. The engine's side is tests/workflows/test_compensations.py."""

import pytest
from django.urls import reverse

from console.aws import clients as aws
from console.aws import resources
from console.models import AuditEntry
from orders.lifecycle import OrderStatus
from orders.models import OrderEvent, StockLevel
from tests.conftest import csrf_post, wait_for
from tests.factories import OrderFactory
from workflows.models import Compensation, CompensationStatus, Execution, StepRun


def failed_compensation() -> Execution:
    """An order that paid and took 2 widgets, whose RestockInventory failed for good."""
    StockLevel.objects.create(product_id="cc-widget", available=8)
    order = OrderFactory(
        status=OrderStatus.FAILED, items=[{"product_id": "cc-widget", "name": "W", "quantity": 2, "price": 5}]
    )
    execution = Execution.objects.create(
        order=order,
        name=f"order-{order.pk}",
        arn=f"arn:aws:states:us-east-1:123456789012:execution:m:order-{order.pk}",
        state_machine=resources.ORDER_PROCESSING,
        status=Execution.Status.FAILED,
        error="CompensationFailed",
        compensation_status=CompensationStatus.FAILED,
        compensation_error="DrillFailure: Failure drill: RestockInventory failed on purpose",
    )
    StepRun.objects.create(
        execution=execution, step="ProcessPayment", token_sha256="p" * 64, status="SUCCEEDED",
        output={"paymentReference": f"pay-{order.pk}", "amount": 10.0},
    )  # fmt: skip
    StepRun.objects.create(
        execution=execution, step="UpdateDatabase", token_sha256="u" * 64, status="SUCCEEDED",
        output={"stockReserved": True, "taken": [{"productId": "cc-widget", "quantity": 2}]},
    )  # fmt: skip
    return execution


@pytest.mark.django_db
def test_a_failed_compensation_shows_on_the_execution_order_and_home_pages(client, support_user):
    execution = failed_compensation()
    client.force_login(support_user)
    page = client.get(reverse("admin:workflows_execution_change", args=[execution.pk])).content.decode()
    assert "Compensation failed" in page and "RestockInventory failed on purpose" in page
    assert reverse("admin:workflows_execution_compensation_retry", args=[execution.pk]) in page
    order_page = client.get(reverse("admin:orders_order_change", args=[execution.order_id])).content.decode()
    assert "Compensation failed" in order_page and "retry from the execution" in order_page
    home = client.get(reverse("admin:index")).content.decode()
    assert "compensation_status__exact=FAILED" in home
    listed = client.get(reverse("admin:workflows_execution_changelist"), {"compensation_status__exact": "FAILED"})
    assert execution.name[:8] in listed.content.decode() or str(execution.order_id)[:8] in listed.content.decode()


@pytest.mark.django_db
def test_an_operator_retries_the_compensation_once_and_it_is_audited(console_client, support_user, operator):
    execution = failed_compensation()
    page = reverse("admin:workflows_execution_change", args=[execution.pk])
    retry = reverse("admin:workflows_execution_compensation_retry", args=[execution.pk])
    console_client.force_login(operator)
    assert console_client.post(retry).status_code == 403  # no CSRF token, no permission either
    console_client.force_login(support_user)
    assert console_client.get(retry).status_code == 405

    response = csrf_post(console_client, page, retry)
    assert response.status_code == 302
    execution.refresh_from_db()
    assert (execution.compensation_status, execution.compensation_error) == (CompensationStatus.COMPENSATED, "")
    assert list(Compensation.objects.filter(execution=execution).values_list("action", flat=True)) == [
        "RESTOCK",
        "REFUND",
    ]
    assert StockLevel.objects.get(product_id="cc-widget").available == 10
    events = OrderEvent.objects.filter(order_id=execution.order_id).values_list("event_type", flat=True)
    assert list(events.filter(event_type__startswith="Order").exclude(event_type="OrderCreated")) == [
        "OrderStockRestocked",
        "OrderPaymentRefunded",
    ]
    timeline = console_client.get(reverse("admin:orders_order_change", args=[execution.order_id])).content.decode()
    assert "OrderStockRestocked" in timeline and "OrderPaymentRefunded" in timeline
    assert "2 × cc-widget" in timeline and f"pay-{execution.order_id}" in timeline
    entry = AuditEntry.objects.get(action="execution.compensation_retry")
    assert entry.actor == support_user and entry.after["refunded"] == [f"pay-{execution.order_id}"]

    # Again: refused with a message, and nothing given back twice.
    csrf_post(console_client, page, retry)
    assert StockLevel.objects.get(product_id="cc-widget").available == 10
    assert Compensation.objects.filter(execution=execution).count() == 2
    assert AuditEntry.objects.filter(action="execution.compensation_retry").count() == 1


@pytest.mark.django_db(transaction=True)
def test_the_saga_starts_from_the_order_page_and_shows_among_executions(stack, console_client, support_user):
    order = OrderFactory()
    console_client.force_login(support_user)
    order_page = reverse("admin:orders_order_change", args=[order.pk])
    assert "Start the order saga" in console_client.get(order_page).content.decode()
    response = csrf_post(console_client, order_page, reverse("admin:workflows_execution_start_saga"), {
        "order_id": str(order.pk)
    })  # fmt: skip
    execution = Execution.objects.get(order=order, state_machine=resources.ORDER_SAGA)
    assert response.status_code == 302 and response["Location"].endswith(f"/{execution.pk}/change/")
    assert execution.arn and execution.status == Execution.Status.RUNNING
    assert AuditEntry.objects.get(action="saga.start").actor == support_user
    listed = console_client.get(reverse("admin:workflows_execution_changelist"), {"state_machine": "order-saga"})
    assert execution.name in listed.content.decode() or str(order.pk)[:8] in listed.content.decode()
    # The consumer runs the saga to its end: nothing of it is left writing while the test's
    # database is emptied.
    sfn_client = aws.client("stepfunctions")
    wait_for(
        lambda: sfn_client.describe_execution(executionArn=execution.arn)["status"] != "RUNNING",
        timeout=90,
        interval=0.5,
        what="the saga to end",
    )
