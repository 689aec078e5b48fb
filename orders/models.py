import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models.lookups import LessThanOrEqual
from django.utils import timezone

from orders.lifecycle import OrderStatus

# --- How large amounts may be ---------------------------------------------------------------
# One definition: the columns are declared from these numbers, check constraints refuse
# anything past them, and every writer (orders.services, the REST API, the CSV importer)
# checks against them before it writes. A value past a column's precision is not a
# harmless outlier: PostgreSQL refuses the whole insert, and SQLite stores it and then
# fails every read of the row (its decimal converter cannot quantize it), which took down
# the order list for everyone.
AMOUNT_DECIMAL_PLACES = 2
ORDER_TOTAL_DIGITS = 14
ITEM_PRICE_DIGITS = 12


def decimal_column_max(*, digits: int, places: int = AMOUNT_DECIMAL_PLACES) -> Decimal:
    """The largest value a ``DecimalField(max_digits=digits, decimal_places=places)`` holds."""
    return Decimal(10) ** (digits - places) - Decimal(1).scaleb(-places)


# 999,999,999,999.99: the largest order total, and so the largest line total too.
ORDER_TOTAL_MAX = decimal_column_max(digits=ORDER_TOTAL_DIGITS)
# 9,999,999,999.99: the largest unit price.
ITEM_PRICE_MAX = decimal_column_max(digits=ITEM_PRICE_DIGITS)
# Not a column limit (the column takes 2**31 - 1) but the business's: the REST API and
# the CSV importer have always refused more units than this on one line.
ITEM_QUANTITY_MAX = 1_000_000
# Items in one order created through the REST API (its schema's maxItems): an order's
# request, its OrderCreated event and its SNS message grow with it; 500 lines is far past
# any real basket and keeps the event well under SNS's 256 KB.
ORDER_ITEMS_MAX = 500

# Which orders a user reaches through the REST API (orders.selectors): an API client
# only the orders it created, unless given these. Reading and changing are separate, so a
# reporting client can be shown every order without being able to cancel any: the model
# permissions (view_order, change_order, cancel_order) still say what it may do, these
# say to whose orders. The console's roles read all orders; admins change all.
VIEW_ALL_ORDERS = "orders.view_all_orders"
CHANGE_ALL_ORDERS = "orders.change_all_orders"


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The customer the order is for (``userId`` in the API), not the API client that sent it.
    user_id = models.CharField(max_length=128)
    total = models.DecimalField(max_digits=ORDER_TOTAL_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES)
    status = models.CharField(max_length=32, choices=OrderStatus.choices, default=OrderStatus.CREATED)
    status_reason = models.TextField(blank=True)
    # Bumped by every change; writers update "where version = what I read" (optimistic lock).
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The API client (or console user, or importer) that created the order: an API client
    # sees and changes only the orders it created (orders.selectors.order_visible_to).
    # Indexed by ``order_creator_created`` below, which also serves the FK's own lookups.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("cancel_order", "Can cancel orders"),
            ("export_order", "Can export orders as CSV"),
            ("annotate_order", "Can add notes to orders"),
            ("view_all_orders", "Can see every client's orders through the API"),
            ("change_all_orders", "Can change and cancel every client's orders through the API"),
        ]
        # Lists (console and API) filter on one column and order by (created_at, id), the
        # pagination key: each filter gets an index that also serves that order, so a page
        # is an index range scan at any depth and with a million rows.
        indexes = [
            models.Index(fields=["created_at", "id"], name="order_created"),
            models.Index(fields=["status", "created_at", "id"], name="order_status_created"),
            models.Index(fields=["user_id", "created_at", "id"], name="order_user_created"),
            models.Index(fields=["total", "id"], name="order_total"),
            # An API client's list: its own orders, newest first, at any depth.
            models.Index(fields=["created_by", "created_at", "id"], name="order_creator_created"),
        ]
        # The database refuses what the code missed (a raw update, a set-based import).
        constraints = [
            models.CheckConstraint(
                condition=models.Q(total__gte=0, total__lte=ORDER_TOTAL_MAX), name="order_total_in_range"
            ),
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
            # Events of a type per minute: the console's orders-per-hour metrics.
            models.Index(fields=["event_type", "created_at"], name="order_event_type_created"),
            models.Index(
                fields=["created_at"], name="order_event_unpublished", condition=models.Q(published_at__isnull=True)
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} v{self.version} of {self.order_id}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, related_name="items", on_delete=models.CASCADE)
    product_id = models.CharField(max_length=128)
    name = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField()
    price = models.DecimalField(max_digits=ITEM_PRICE_DIGITS, decimal_places=AMOUNT_DECIMAL_PLACES)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="order_item_quantity_positive"),
            models.CheckConstraint(
                condition=models.Q(price__gte=0, price__lte=ITEM_PRICE_MAX), name="order_item_price_in_range"
            ),
            # A line can never be more than the order total can hold.
            models.CheckConstraint(
                condition=LessThanOrEqual(models.F("quantity") * models.F("price"), ORDER_TOTAL_MAX),
                name="order_item_line_total_in_range",
            ),
        ]

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


# Order CSV imports (orders.imports): their models, registered here under the orders app.
from orders.imports.models import CsvUpload, Import, ImportChunk, ImportedOrder, RejectedRow  # noqa: E402, F401
