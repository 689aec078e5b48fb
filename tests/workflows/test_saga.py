"""The order saga on the local stack: a failure forced at each step runs exactly the
compensations that undo what was done, newest first, and stock ends where it started."""

import pytest

from orders.models import StockLevel
from tests.conftest import wait_for
from tests.factories import OrderFactory
from workflows import sfn
from workflows.models import Execution, StepRun
from workflows.saga import DrillsDisabled, saga_start

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

# failAt -> (steps that ran, in order; how the execution ended)
CASES = {
    None: (["ReserveInventory", "ProcessPayment", "ConfirmOrder"], "SUCCEEDED", ""),
    "ReserveInventory": (["ReserveInventory"], "FAILED", "InventoryReservationFailed"),
    "ProcessPayment": (["ReserveInventory", "ProcessPayment", "RollbackInventory"], "FAILED", "SagaFailed"),
    "ConfirmOrder": (
        ["ReserveInventory", "ProcessPayment", "ConfirmOrder", "RollbackPayment", "RollbackInventory"],
        "FAILED",
        "SagaFailed",
    ),
}


def finished(execution: Execution) -> dict:
    return wait_for(
        lambda: (d := sfn.describe_execution(execution_arn=execution.arn))["status"] != "RUNNING" and d,
        timeout=45,
        what=f"{execution.name} to end",
    )


def test_a_failure_at_each_step_runs_the_right_compensations_in_order(stack):
    StockLevel.objects.create(product_id="saga-widget", available=10)
    started = {}
    for fail_at in CASES:
        order = OrderFactory(items=[{"product_id": "saga-widget", "name": "Widget", "quantity": 3, "price": 5}])
        started[fail_at] = saga_start(order_id=order.pk, fail_at=fail_at)

    for fail_at, (expected_steps, status, error) in CASES.items():
        execution = started[fail_at]
        described = finished(execution)
        assert described["status"] == status, (fail_at, described)
        assert described.get("error", "") == error
        runs = list(StepRun.objects.filter(execution=execution).order_by("started_at", "id"))
        assert [run.step for run in runs] == expected_steps, fail_at
        if fail_at:
            failed = [run for run in runs if run.status == StepRun.Status.FAILED]
            assert [(run.step, run.error) for run in failed] == [(fail_at, "DrillFailure")]
        if fail_at == "ConfirmOrder":
            refund = next(run for run in runs if run.step == "RollbackPayment")
            assert refund.output["refunded"] == f"saga-pay-{execution.order_id}"

    # Only the successful saga keeps its reservation; every compensation put stock back.
    assert StockLevel.objects.get(product_id="saga-widget").available == 10 - 3


def test_a_real_shortage_fails_the_reservation_without_compensations(stack):
    StockLevel.objects.create(product_id="saga-rare", available=1)
    order = OrderFactory(items=[{"product_id": "saga-rare", "name": "Rare", "quantity": 2, "price": 5}])
    execution = saga_start(order_id=order.pk)
    assert finished(execution)["error"] == "InventoryReservationFailed"
    (run,) = StepRun.objects.filter(execution=execution)
    assert (run.step, run.error) == ("ReserveInventory", "InsufficientStock")
    assert StockLevel.objects.get(product_id="saga-rare").available == 1


def test_failure_drills_are_refused_where_they_are_off(db, settings):
    settings.SAGA_FAILURE_DRILLS = False
    order = OrderFactory()
    with pytest.raises(DrillsDisabled):
        saga_start(order_id=order.pk, fail_at="ProcessPayment")
    assert not Execution.objects.filter(order=order).exists()
