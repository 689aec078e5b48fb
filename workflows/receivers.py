"""Workflows' answers to what orders tell (``orders.signals``), connected in
``WorkflowsConfig.ready``."""

from django.dispatch import receiver

from orders.signals import order_cancelled, orders_submitted
from workflows import services


@receiver(orders_submitted, dispatch_uid="workflows-start-submitted-orders")
def start_submitted_orders(sender, *, order_ids, **kwargs) -> None:
    for order_id in order_ids:
        services.workflow_enqueue_start(order_id=order_id)


@receiver(order_cancelled, dispatch_uid="workflows-end-cancelled-order")
def end_cancelled_order(sender, *, order, actor=None, reason: str = "", **kwargs) -> None:
    services.workflow_order_cancelled(order=order, actor=actor, reason=reason)
