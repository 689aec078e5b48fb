"""Reads of orders, with the related rows each caller needs fetched up front."""

from uuid import UUID

from django.db.models import Prefetch, QuerySet

from orders.models import Order, OrderItem


def order_list(*, filters: dict | None = None) -> QuerySet[Order]:
    filters = filters or {}
    qs = Order.objects.prefetch_related(Prefetch("items", queryset=OrderItem.objects.order_by("id")))
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if user_id := filters.get("user_id"):
        qs = qs.filter(user_id=user_id)
    return qs.order_by("-created_at", "-id")


def order_get(*, order_id: UUID) -> Order:
    """The order with its items; raises Order.DoesNotExist."""
    return Order.objects.prefetch_related("items").get(pk=order_id)
