"""django-import-export importing the same order CSV into the same models, beside ours.

django-import-export imports one model per resource: this resource imports order items
and, from its hooks, creates each order the first time its reference is seen (with its
external reference), adds each item to the order's total, and writes every order's
``OrderCreated`` event at the end: the same rows our import writes. It reads the file from
the local disk (no S3), row by row in one transaction, as its admin integration does.
"""

import time
from decimal import Decimal
from pathlib import Path


def import_export_run(path: Path) -> tuple[float, int, int]:
    """Import ``path`` with django-import-export; returns (seconds, rows, orders)."""
    import tablib
    from django.db.models import F
    from import_export import fields, resources, widgets

    from orders.events import order_created_data
    from orders.models import Import, ImportedOrder, Order, OrderEvent, OrderItem

    import_run = Import.objects.create(
        bucket="local", key=str(path), version="import-export", chunk_bytes=0, dry_run=True, mode="history"
    )

    class OrderItemResource(resources.ModelResource):
        order = fields.Field(attribute="order", column_name="order_reference", widget=widgets.ForeignKeyWidget(Order))
        quantity = fields.Field(attribute="quantity", column_name="quantity", widget=widgets.IntegerWidget())
        price = fields.Field(attribute="price", column_name="price", widget=widgets.DecimalWidget())

        class Meta:
            model = OrderItem
            fields = ("order", "product_id", "name", "quantity", "price")
            import_id_fields = ()
            skip_diff = True
            use_transactions = True

        orders: dict[str, Order] = {}

        def before_import_row(self, row, **kwargs):
            reference = row["order_reference"]
            order = self.orders.get(reference)
            if order is None:
                order = Order.objects.create(user_id=row["user_id"], total=Decimal("0"), status="APPROVED")
                ImportedOrder.objects.create(reference=reference, order=order, import_run=import_run, line=0)
                self.orders[reference] = order
            row["order_reference"] = order.pk

        def after_save_instance(self, instance, row, **kwargs):
            Order.objects.filter(pk=instance.order_id).update(total=F("total") + instance.price * instance.quantity)

        def after_import(self, dataset, result, **kwargs):
            for order in Order.objects.filter(pk__in=[o.pk for o in self.orders.values()]).prefetch_related("items"):
                items = list(order.items.all())
                OrderEvent.objects.create(
                    order=order,
                    version=1,
                    event_type="OrderCreated",
                    data=order_created_data(order=order, items=items),
                    causation_id=str(import_run.pk),
                )

    started = time.perf_counter()
    dataset = tablib.Dataset().load(path.read_text(), format="csv")
    resource = OrderItemResource()
    result = resource.import_data(dataset, dry_run=False, raise_errors=True)
    seconds = time.perf_counter() - started
    assert not result.has_errors()
    return seconds, len(dataset), len(resource.orders)


def compare(workdir: Path, rows: int, write_csv, upload, empty_tables) -> tuple[float, float]:
    """Seconds for ``rows`` rows: this import's, and django-import-export's."""
    from orders.imports.services import csv_import_object, import_run_inline
    from orders.models import Import, Order

    path = workdir / f"compare-{rows}.csv"
    orders = write_csv(path, rows, seed=rows)
    info = upload(path, f"bench/compare-{rows}.csv")

    empty_tables()
    started = time.perf_counter()
    ours = import_run_inline(import_id=csv_import_object(info=info, mode=Import.Mode.HISTORY).pk)
    our_seconds = time.perf_counter() - started
    assert ours.orders_created == orders and Order.objects.count() == orders

    empty_tables()
    theirs_seconds, theirs_rows, theirs_orders = import_export_run(path)
    assert theirs_rows == rows and theirs_orders == orders and Order.objects.count() == orders

    print(f"\n{rows:,} rows ({orders:,} orders) into orders, items, events and references, one process:")
    print(f"  this import (from S3):                 {our_seconds:6.2f} s = {rows / our_seconds:>9,.0f} rows/s")
    print(f"  django-import-export (from local disk): {theirs_seconds:6.2f} s = {rows / theirs_seconds:>9,.0f} rows/s")
    print(f"  ratio: this import is {theirs_seconds / our_seconds:.1f}x as fast", flush=True)
    return our_seconds, theirs_seconds
