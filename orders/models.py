import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from orders.lifecycle import OrderStatus


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The customer the order is for (the seed's ``userId``), not the API client that sent it.
    user_id = models.CharField(max_length=128)
    total = models.DecimalField(max_digits=14, decimal_places=2)
    status = models.CharField(max_length=32, choices=OrderStatus.choices, default=OrderStatus.CREATED)
    status_reason = models.TextField(blank=True)
    # Bumped by every change; writers update "where version = what I read" (optimistic lock).
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("cancel_order", "Can cancel orders"),
            ("export_order", "Can export orders as CSV"),
            ("annotate_order", "Can add notes to orders"),
        ]
        # Lists (console and API) filter on one column and order by (created_at, id), the
        # pagination key: each filter gets an index that also serves that order, so a page
        # is an index range scan at any depth and with a million rows.
        indexes = [
            models.Index(fields=["created_at", "id"], name="order_created"),
            models.Index(fields=["status", "created_at", "id"], name="order_status_created"),
            models.Index(fields=["user_id", "created_at", "id"], name="order_user_created"),
            models.Index(fields=["total", "id"], name="order_total"),
        ]

    def __str__(self) -> str:
        return f"Order {str(self.id)[:8]}"


class OrderEvent(models.Model):
    """One change to an order, appended in the same transaction as the change.

    ``(order, version)`` is unique: two writers that read the same version cannot both
    append, which is the optimistic lock. The table is also the outbox: ``published_at``
    stays empty until the relay has published the event.
    """

    # The event id: carried with the published message, so consumers can drop duplicates.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, related_name="events", on_delete=models.CASCADE, db_index=False)
    version = models.PositiveIntegerField()
    event_type = models.CharField(max_length=64)
    data = models.JSONField(default=dict)
    correlation_id = models.CharField(max_length=64, blank=True)
    causation_id = models.CharField(max_length=64, blank=True)
    actor_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order", "version"]
        constraints = [models.UniqueConstraint(fields=["order", "version"], name="order_event_version_unique")]
        indexes = [
            models.Index(
                fields=["created_at"], name="order_event_unpublished", condition=models.Q(published_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_type} v{self.version} of {self.order_id}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, related_name="items", on_delete=models.CASCADE)
    product_id = models.CharField(max_length=128)
    name = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.name}"

    @property
    def line_total(self):
        return self.price * self.quantity


class StockLevel(models.Model):
    """Units on hand for products whose stock is tracked; other products are unlimited."""

    product_id = models.CharField(max_length=128, unique=True)
    available = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.product_id}: {self.available}"
