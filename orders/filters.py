"""Filters of the order list (REST API): each matches an index of ``Order``."""

from datetime import UTC

from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from orders.lifecycle import OrderStatus
from orders.selectors import order_id_range


class UtcDateTimeFilter(filters.IsoDateTimeFilter):
    """An ISO 8601 moment, compared in UTC: ISO allows offsets up to ±23:59, PostgreSQL
    refuses those beyond ±15:59 (a 500 before this)."""

    def filter(self, qs, value):
        return super().filter(qs, value.astimezone(UTC) if value is not None else value)


class OrderFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=OrderStatus.choices, help_text="Orders in this status.")
    userId = filters.CharFilter(field_name="user_id", max_length=128, help_text="Orders of this customer.")
    createdFrom = UtcDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO 8601)."
    )
    createdTo = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt", help_text="Created before (ISO 8601).")
    totalMin = filters.NumberFilter(field_name="total", lookup_expr="gte", help_text="Total at least this.")
    totalMax = filters.NumberFilter(field_name="total", lookup_expr="lte", help_text="Total at most this.")
    search = filters.CharFilter(
        method="search_order_id",
        help_text="An order id, or its first 8 or more characters (as the console shows them).",
    )
    ordering = filters.ChoiceFilter(
        choices=[
            ("-createdAt", "Newest first (default)"),
            ("createdAt", "Oldest first"),
            ("-total", "Largest total first"),
            ("total", "Smallest total first"),
        ],
        method="order",
        help_text="The order of the list (one key; ties are broken by order id).",
    )

    ORDER_FIELDS = {"createdAt": "created_at", "total": "total"}

    def order(self, queryset, name, value):
        descending = value.startswith("-")
        field = self.ORDER_FIELDS[value.lstrip("-")]
        sign = "-" if descending else ""
        return queryset.order_by(f"{sign}{field}", f"{sign}pk")

    def search_order_id(self, queryset, name, value):
        bounds = order_id_range(value)
        if bounds is None:
            raise ValidationError({"search": ["An order id, or its first 8 or more characters (0-9, a-f)."]})
        low, high = bounds
        return queryset.filter(pk__gte=low, pk__lte=high)
