"""Workflows' answers to what orders tell (``orders.signals``), connected in
``WorkflowsConfig.ready``.

The services load when a signal first arrives, not when Django starts: a Lambda cold start
that serves a read of the API never loads the workflow engine's clients.
"""

from django.dispatch import receiver

from orders.signals import order_cancelled, orders_submitted


@receiver(orders_submitted, dispatch_uid="workflows-start-submitted-orders")
def start_submitted_orders(sender, *, order_ids, **kwargs) -> None:
    from workflows import executions  # lazy: cold start (the workflow engine's clients)

    for order_id in order_ids:
        executions.workflow_enqueue_start(order_id=order_id)


@receiver(order_cancelled, dispatch_uid="workflows-end-cancelled-order")
def end_cancelled_order(sender, *, order, actor=None, reason: str = "", **kwargs) -> None:
    from workflows import approvals  # lazy: cold start (the workflow engine's clients)

    approvals.workflow_order_cancelled(order=order, actor=actor, reason=reason)
