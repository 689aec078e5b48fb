"""Compensation in the order workflow, through the engine (moto's Step Functions, real
queues, the stack's consumer running the step handlers): a failure drilled at each step
gives back exactly what the order took, newest first, records it on the order's history,
and ends the order FAILED; a compensation that fails for good flags the execution, and an
operator's retry finishes it. The table of what was compensated for each step is written
to the test artifacts (compensations.md)."""

import pytest
from django.db import transaction

from console.aws import resources
from console.models import AuditEntry
from orders.lifecycle import OrderStatus
from orders.models import Order, OrderEvent, StockLevel
from orders.services import order_create
from tests.conftest import wait_for
from workflows import sfn
from workflows.approvals import approval_decide
from workflows.compensations import (
    CompensationNotRetryable,
    compensation_refund,
    compensation_restock,
    compensation_retry,
)
from workflows.models import Approval, Compensation, CompensationStatus, Execution, StepRun
from workflows.restarts import execution_restart
from workflows.starts import execution_name

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

R, S = "REFUND", "RESTOCK"
# Drilled step(s) -> (what was compensated, in order; how the execution ended). A Parallel
# branch failing beside UpdateDatabase finds its stock taken or not, depending on which
# branch ran first: both answers are right, as long as the stock comes back.
CASES = {
    "ValidateOrder": ([[]], "OrderProcessingFailed"),
    "CheckInventory": ([[]], "OrderProcessingFailed"),
    "RequestApproval": ([[]], "OrderRejected"),  # an operator's rejection
    "ProcessPayment": ([[]], "OrderProcessingFailed"),
    "UpdateDatabase": ([[R]], "OrderProcessingFailed"),
    "SendNotification": ([[S, R], [R]], "OrderProcessingFailed"),
    "InitiateShipping": ([[S, R], [R]], "OrderProcessingFailed"),
    "CompleteOrder": ([[S, R]], "OrderProcessingFailed"),
    "CompleteOrder,RestockInventory": ([[]], "CompensationFailed"),
    "CompleteOrder,RefundPayment": ([[S]], "CompensationFailed"),
}
PRODUCT = "comp-widget"


def drilled_order(fail_at: str) -> Order:
    """An order whose execution record carries the drill before the starter starts it."""
    with transaction.atomic():
        order = order_create(
            user_id="comp-user", items=[{"product_id": PRODUCT, "name": "Widget", "quantity": 2, "price": 5}]
        )
        Execution.objects.create(
            order=order,
            name=execution_name(order.pk),
            state_machine=resources.ORDER_PROCESSING,
            drill_fail_at="" if fail_at == "RequestApproval" else fail_at,
        )
    return order


def ended(order: Order) -> dict:
    arn = wait_for(
        lambda: Execution.objects.filter(order=order).exclude(arn="").values_list("arn", flat=True).first(),
        timeout=60,
        what=f"order {order.pk}'s execution to start",
    )
    return wait_for(
        lambda: (d := sfn.describe_execution(execution_arn=arn))["status"] != "RUNNING" and d,
        timeout=120,
        what=f"order {order.pk}'s execution to end",
    )


def compensated(order: Order) -> list[str]:
    return list(Compensation.objects.filter(order=order).order_by("created_at", "id").values_list("action", flat=True))


def described_actions(actions: list[str]) -> str:
    names = {S: "stock put back (RestockInventory)", R: "payment refunded (RefundPayment)"}
    return ", then ".join(names[action] for action in actions) or "nothing"


def test_a_failure_at_each_step_gives_back_what_the_order_took_newest_first(
    stack, operator, support_user, artifacts_dir
):
    StockLevel.objects.create(product_id=PRODUCT, available=100)
    orders = {fail_at: drilled_order(fail_at) for fail_at in CASES}

    def decide_pending() -> bool:
        for approval in Approval.objects.filter(status=Approval.Status.PENDING, order__in=orders.values()):
            rejected = approval.order_id == orders["RequestApproval"].pk
            approval_decide(approval_id=approval.pk, approve=not rejected, actor=operator, reason="drill")
        settled = Order.objects.filter(
            pk__in=[order.pk for order in orders.values()], status__in=[OrderStatus.FAILED, OrderStatus.REJECTED]
        )
        return settled.count() == len(orders)

    wait_for(decide_pending, timeout=120, interval=0.5, what="every approval decided")
    rows = []
    for fail_at, (expected, error) in CASES.items():
        order = orders[fail_at]
        described = ended(order)
        assert (described["status"], described.get("error")) == ("FAILED", error), fail_at
        got = compensated(order)
        assert got in expected, (fail_at, got, list(StepRun.objects.filter(execution__order=order).values_list("step")))
        order.refresh_from_db()
        assert order.status == (OrderStatus.REJECTED if fail_at == "RequestApproval" else OrderStatus.FAILED)
        events = list(
            OrderEvent.objects.filter(order=order, event_type__in=["OrderStockRestocked", "OrderPaymentRefunded"])
            .order_by("version")
            .values_list("event_type", flat=True)
        )
        assert events == [{"REFUND": "OrderPaymentRefunded", "RESTOCK": "OrderStockRestocked"}[a] for a in got]
        execution = Execution.objects.get(arn=described["executionArn"])
        retried = ""
        if error == "CompensationFailed":
            assert execution.compensation_status == CompensationStatus.FAILED
            assert "DrillFailure" in execution.compensation_error
            assert OrderEvent.objects.filter(order=order, event_type="OrderCompensationFailed").exists()
            compensation_retry(execution_id=execution.pk, actor=operator)
            retried = "; after the operator's retry: " + described_actions(compensated(order)[len(got) :])
            assert compensated(order) == [S, R]
            with pytest.raises(CompensationNotRetryable):
                compensation_retry(execution_id=execution.pk, actor=operator)
        elif got:
            assert execution.compensation_status == CompensationStatus.COMPENSATED
        # Asked again, a compensation gives back nothing more.
        assert compensation_restock(execution_id=execution.pk) == []
        assert compensation_refund(execution_id=execution.pk) == []
        rows.append(f"| {fail_at} | {described_actions(got)}{retried} | {described.get('error')} |")

    # Every order failed: all their stock is back.
    assert StockLevel.objects.get(product_id=PRODUCT).available == 100

    # A compensated order restarts at ProcessPayment (its payment was refunded): it pays,
    # takes its stock once more, and completes.
    order = orders["CompleteOrder"]
    failed = Execution.objects.get(order=order, restarted_from__isnull=True)
    restarted = execution_restart(execution_id=failed.pk, actor=support_user)
    assert restarted.resumed_at == "ProcessPayment"
    described = wait_for(
        lambda: (d := sfn.describe_execution(execution_arn=restarted.arn))["status"] != "RUNNING" and d,
        timeout=60,
        what="the restart to end",
    )
    assert described["status"] == "SUCCEEDED"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED
    assert StockLevel.objects.get(product_id=PRODUCT).available == 100 - 2
    assert AuditEntry.objects.filter(action="execution.compensation_retry").count() == 2
    table = "\n".join(["| Failure at | Compensated, in order | Execution ended |", "|---|---|---|", *rows])
    (artifacts_dir / "compensations.md").write_text(table + "\n")
    print(table)
