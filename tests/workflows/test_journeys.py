"""End to end on the local stack: an order created over HTTP runs through the real Step
Functions workflow (moto's interpreter), real SQS queues, the consumer process running the
stage's Lambda functions (the worker function's jobs among them), and an operator's
decision in the console."""

import time

import pytest
import requests
from django.urls import reverse

from orders.lifecycle import OrderStatus
from orders.models import Order
from tests.conftest import csrf_post, wait_for
from workflows import sfn
from workflows.models import Approval, Execution, StepRun

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def create_order(live_server, token: str, items: list[dict], user_id: str = "test-user") -> str:
    response = requests.post(
        f"{live_server.url}/api/orders",
        json={"userId": user_id, "items": items},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return response.json()["orderId"]


def api_status(live_server, token: str, order_id: str) -> str:
    response = requests.get(
        f"{live_server.url}/api/orders/{order_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    return response.json()["status"]


def pending_approval(order_id: str) -> Approval:
    return wait_for(
        lambda: Approval.objects.filter(order_id=order_id, status=Approval.Status.PENDING).first(),
        what=f"the approval of order {order_id}",
    )


def execution_arn(order_id: str) -> str:
    return wait_for(
        lambda: Execution.objects.filter(order_id=order_id).exclude(arn="").values_list("arn", flat=True).first(),
        what=f"the execution of order {order_id} to start",
    )


def execution_status(order_id: str) -> str:
    return sfn.describe_execution(execution_arn=execution_arn(order_id))["status"]


def wait_until_finished(order_id: str, timeout: float = 30) -> str:
    return wait_for(
        lambda: (status := execution_status(order_id)) != "RUNNING" and status,
        timeout=timeout,
        what="the execution to end",
    )


WIDGETS = [{"productId": "p1", "name": "Widget", "quantity": 2, "price": 1000}]


def test_an_approved_order_runs_through_fulfilment_and_completes(
    stack, live_server, api_token, operator, console_client
):
    order_id = create_order(live_server, api_token, WIDGETS)

    approval = pending_approval(order_id)
    assert Order.objects.get(pk=order_id).status == OrderStatus.AWAITING_APPROVAL
    assert api_status(live_server, api_token, order_id) == "AWAITING_APPROVAL"
    assert approval.expires_at is not None

    console_client.force_login(operator)
    order_page = console_client.get(reverse("admin:orders_order_change", args=[order_id])).content.decode()
    assert "RequestApproval" in order_page and "RUNNING" in order_page  # live state of the execution
    assert reverse("admin:workflows_approval_approve", args=[approval.pk]) in order_page
    assert "Widget" in order_page
    inbox = reverse("admin:workflows_approval_changelist")
    clicked = time.monotonic()
    response = csrf_post(console_client, inbox, reverse("admin:workflows_approval_approve", args=[approval.pk]))
    assert response.status_code == 302

    assert wait_until_finished(order_id) == "SUCCEEDED"
    print(f"approval click to execution success: {time.monotonic() - clicked:.2f}s")
    order = Order.objects.get(pk=order_id)
    assert order.status == OrderStatus.COMPLETED
    assert api_status(live_server, api_token, order_id) == "COMPLETED"
    steps = set(
        StepRun.objects.filter(execution__order_id=order_id, status=StepRun.Status.SUCCEEDED).values_list(
            "step", flat=True
        )
    )
    assert steps == {
        "ValidateOrder",
        "CheckInventory",
        "ProcessPayment",
        "UpdateDatabase",
        "SendNotification",
        "InitiateShipping",
        "CompleteOrder",
    }
    approval.refresh_from_db()
    assert approval.status == Approval.Status.APPROVED and approval.decided_by == operator and approval.delivered_at


def test_a_rejected_order_ends_failed_with_the_reason(stack, live_server, api_token, operator, console_client):
    order_id = create_order(live_server, api_token, WIDGETS)
    approval = pending_approval(order_id)

    console_client.force_login(operator)
    reject_url = reverse("admin:workflows_approval_reject", args=[approval.pk])
    empty = csrf_post(console_client, reject_url, reject_url, {"reason": "  "})
    assert empty.status_code == 400 and b"needs a reason" in empty.content
    response = csrf_post(console_client, reject_url, reject_url, {"reason": "Customer is on the fraud list"})
    assert response.status_code == 302

    assert wait_until_finished(order_id) == "FAILED"
    assert sfn.describe_execution(execution_arn=execution_arn(order_id))["error"] == "OrderRejected"
    order = Order.objects.get(pk=order_id)
    assert order.status == OrderStatus.REJECTED
    assert order.status_reason == "Customer is on the fraud list"
    assert api_status(live_server, api_token, order_id) == "REJECTED"


def test_an_order_that_fails_validation_ends_failed_without_an_approval(stack, live_server, api_token, settings):
    too_big = [{"productId": "yacht", "name": "Yacht", "quantity": 1, "price": 2_500_000}]
    order_id = create_order(live_server, api_token, too_big)

    assert wait_until_finished(order_id) == "FAILED"
    order = wait_for(
        lambda: (o := Order.objects.get(pk=order_id)).status == OrderStatus.FAILED and o, what="FAILED order"
    )
    assert order.status_reason.startswith("ValidationError")
    assert "exceeds the limit" in order.status_reason
    assert not Approval.objects.filter(order_id=order_id).exists()


def test_cancelling_while_awaiting_approval_ends_the_workflow(stack, live_server, api_token):
    order_id = create_order(live_server, api_token, WIDGETS)
    approval = pending_approval(order_id)

    response = requests.delete(
        f"{live_server.url}/api/orders/{order_id}", headers={"Authorization": f"Bearer {api_token}"}, timeout=10
    )
    assert response.status_code == 204

    assert wait_until_finished(order_id) == "FAILED"
    assert sfn.describe_execution(execution_arn=execution_arn(order_id))["error"] == "OrderCancelled"
    approval.refresh_from_db()
    assert approval.status == Approval.Status.CANCELLED
    assert Order.objects.get(pk=order_id).status == OrderStatus.CANCELLED


def test_a_second_click_does_not_send_the_decision_again(
    stack, live_server, api_token, operator, second_operator, console_client
):
    from console.aws import clients as aws

    order_id = create_order(live_server, api_token, WIDGETS)
    approval = pending_approval(order_id)
    calls = []

    def count_call(**kwargs):
        calls.append(kwargs)

    client = aws.client("stepfunctions")
    client.meta.events.register("before-call.sfn.SendTaskSuccess", count_call)
    try:
        console_client.force_login(operator)
        approve = reverse("admin:workflows_approval_approve", args=[approval.pk])
        inbox = reverse("admin:workflows_approval_changelist")
        assert csrf_post(console_client, inbox, approve).status_code == 302
        # The same operator in a second tab, then a colleague, click again: each is told.
        second = csrf_post(console_client, inbox + "?status=all", approve)
        assert b"Already approved by olivia-operator" in console_client.get(second["Location"]).content
        console_client.force_login(second_operator)
        third = csrf_post(console_client, inbox + "?status=all", approve)
        assert b"Already approved by olivia-operator" in console_client.get(third["Location"]).content
    finally:
        client.meta.events.unregister("before-call.sfn.SendTaskSuccess", count_call)
    assert len(calls) == 1
    assert wait_until_finished(order_id) == "SUCCEEDED"


def test_an_order_waits_for_stock_and_continues_when_it_arrives(stack, live_server, api_token):
    from orders.models import StockLevel

    StockLevel.objects.create(product_id="scarce", available=0)
    order_id = create_order(
        live_server, api_token, [{"productId": "scarce", "name": "Scarce", "quantity": 2, "price": 5}]
    )
    wait_for(
        lambda: StepRun.objects.filter(execution__order_id=order_id, step="CheckInventory").count() >= 2,
        what="the inventory check to run again",
    )
    assert not Approval.objects.filter(order_id=order_id).exists()
    StockLevel.objects.filter(product_id="scarce").update(available=2)
    pending_approval(order_id)
