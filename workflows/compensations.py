"""Compensations of order processing: what a failed order gives back, newest first.

A failure after ``UpdateDatabase`` puts its stock back (``RestockInventory``), then a
failure after ``ProcessPayment`` refunds it (``RefundPayment``), as the order saga does
(``workflows.saga``). Each compensation undoes the order's forward step runs that are not
undone yet and records a ``Compensation`` per run (unique per run) with an order event,
in one transaction: asked twice, it changes nothing. A compensation that fails for good
(the engine's retries spent) flags its execution ``FAILED`` (``compensation_failure_record``)
and an operator retries it from the console (``compensation_retry``).
"""

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from console.models import AuditEntry
from console.platform.audit import audit_record
from orders.lifecycle import OrderStatus
from orders.models import Order, StockLevel
from orders.services import order_compensation_record, order_transition
from workflows.models import Compensation, CompensationStatus, Execution, StepRun


class CompensationNotRetryable(Exception):
    """The execution has no failed compensation to retry; the message says why."""


def _undone_runs(*, order_id, step: str) -> list[StepRun]:
    """The order's successful runs of ``step`` that took something (an UpdateDatabase run
    that found the stock already taken took nothing) and are not undone yet, locked."""
    runs = (
        StepRun.objects.select_for_update()
        .filter(execution__order_id=order_id, step=step, status=StepRun.Status.SUCCEEDED)
        .exclude(pk__in=Compensation.objects.values("undoes_id"))
        .order_by("started_at", "id")
    )
    return [run for run in runs if not (run.output or {}).get("alreadyTaken")]


def stock_taken_and_kept(*, order_id) -> bool:
    """Whether a run of UpdateDatabase took the order's stock and no compensation put it back."""
    return bool(_undone_runs(order_id=order_id, step="UpdateDatabase"))


def _compensating(*, execution_id: int) -> Execution:
    """Lock the execution and mark it compensating: from now on its UpdateDatabase (a
    Parallel branch still in flight when another branch failed) takes no stock."""
    execution = Execution.objects.select_for_update().get(pk=execution_id)
    if execution.compensation_status != CompensationStatus.COMPENSATING:
        execution.compensation_status = CompensationStatus.COMPENSATING
        execution.save(update_fields=["compensation_status", "updated_at"])
    return execution


def compensation_restock(*, execution_id: int, actor=None, source: str = AuditEntry.Source.SYSTEM) -> list[dict]:
    """Put back the stock the order's UpdateDatabase runs took (their recorded ``taken``
    lines). Returns what was put back: empty when nothing was taken or all was put back."""
    restocked = []
    with transaction.atomic():
        execution = _compensating(execution_id=execution_id)
        order = Order.objects.get(pk=execution.order_id)
        for run in _undone_runs(order_id=order.pk, step="UpdateDatabase"):
            lines = (run.output or {}).get("taken")
            if lines is None:  # a run recorded before UpdateDatabase listed what it took
                lines = [{"productId": item.product_id, "quantity": item.quantity} for item in order.items.all()]
            for line in lines:
                StockLevel.objects.filter(product_id=line["productId"]).update(
                    available=F("available") + line["quantity"]
                )
            put_back = ", ".join(f"{line['quantity']} × {line['productId']}" for line in lines)
            detail = {
                "execution": execution.name,
                "stepRun": run.pk,
                "items": lines,
                "summary": f"Stock put back by {execution.name}: {put_back or 'nothing tracked'}",
            }
            Compensation.objects.create(
                order=order, execution=execution, undoes=run, action=Compensation.Action.RESTOCK, detail=detail
            )
            order_compensation_record(
                order_id=order.pk, event_type="OrderStockRestocked", data=detail, actor=actor, source=source
            )
            restocked.extend(lines)
    return restocked


def compensation_refund(*, execution_id: int, actor=None, source: str = AuditEntry.Source.SYSTEM) -> list[dict]:
    """Refund the payments the order's ProcessPayment runs took (their recorded reference
    and amount). Returns the refunds made: empty when none was taken or all were refunded."""
    refunds = []
    with transaction.atomic():
        execution = _compensating(execution_id=execution_id)
        for run in _undone_runs(order_id=execution.order_id, step="ProcessPayment"):
            payment = run.output or {}
            detail = {
                "execution": execution.name,
                "stepRun": run.pk,
                "paymentReference": payment.get("paymentReference", ""),
                "amount": payment.get("amount"),
                "summary": f"Refunded by {execution.name}: {payment.get('paymentReference', '')} "
                f"({payment.get('amount')})",
            }
            Compensation.objects.create(
                order_id=execution.order_id,
                execution=execution,
                undoes=run,
                action=Compensation.Action.REFUND,
                detail=detail,
            )
            order_compensation_record(
                order_id=execution.order_id, event_type="OrderPaymentRefunded", data=detail, actor=actor, source=source
            )
            refunds.append(detail)
    return refunds


def compensation_finish(*, execution_id: int) -> None:
    """All compensations ran: the execution is compensated."""
    Execution.objects.filter(pk=execution_id).update(
        compensation_status=CompensationStatus.COMPENSATED, compensation_error="", updated_at=timezone.now()
    )


def compensation_failure_record(*, execution_id: int, error: str, cause: str) -> Execution:
    """A compensation failed for good: flag the execution, record it on the order, and fail
    the order (the operator sees it on both pages and among failed executions)."""
    message = f"{error}: {cause}".strip(": ")
    with transaction.atomic():
        execution = Execution.objects.select_for_update().get(pk=execution_id)
        execution.compensation_status = CompensationStatus.FAILED
        execution.compensation_error = message
        execution.save(update_fields=["compensation_status", "compensation_error", "updated_at"])
        order_compensation_record(
            order_id=execution.order_id,
            event_type="OrderCompensationFailed",
            data={
                "execution": execution.name,
                "error": error,
                "cause": cause,
                "summary": f"Compensation failed in {execution.name}: {message}",
            },
        )
        order = Order.objects.get(pk=execution.order_id)
        if order.status not in {OrderStatus.FAILED, OrderStatus.CANCELLED, OrderStatus.REJECTED}:
            order_transition(order_id=order.pk, to_status=OrderStatus.FAILED, reason=f"Compensation failed: {message}")
    return execution


def compensation_retry(*, execution_id: int, actor, source: str = AuditEntry.Source.CONSOLE) -> Execution:
    """Run an execution's failed compensations again, here and now (the execution has
    ended: the engine will not), newest first as the workflow does; audited. Idempotent:
    what was already given back is not given back twice. On an error nothing is recorded
    and the execution stays flagged; the error propagates."""
    with transaction.atomic():
        execution = Execution.objects.select_for_update().get(pk=execution_id)
        if execution.compensation_status != CompensationStatus.FAILED:
            raise CompensationNotRetryable("This execution has no failed compensation to retry.")
        if execution.is_open:
            raise CompensationNotRetryable("The execution is still running: its own compensations may still run.")
        before = {"compensation": execution.compensation_status, "error": execution.compensation_error}
        restocked = compensation_restock(execution_id=execution.pk, actor=actor, source=source)
        refunds = compensation_refund(execution_id=execution.pk, actor=actor, source=source)
        compensation_finish(execution_id=execution.pk)
        audit_record(
            action="execution.compensation_retry",
            obj=execution,
            actor=actor,
            source=source,
            before=before,
            after={
                "compensation": CompensationStatus.COMPENSATED,
                "restocked": restocked,
                "refunded": [refund["paymentReference"] for refund in refunds],
            },
        )
    execution.refresh_from_db()
    return execution
