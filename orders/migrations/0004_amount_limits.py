from decimal import Decimal

from django.db import migrations, models
from django.db.models.lookups import LessThanOrEqual

# The limits as they were when this migration was written (orders.models may change them
# later; a migration must keep meaning what it meant).
ORDER_TOTAL_MAX = Decimal("999999999999.99")
ITEM_PRICE_MAX = Decimal("9999999999.99")
SHOWN = 20


def refuse_rows_past_the_limits(apps, schema_editor):
    """Stop before adding the constraints if rows already break them, naming the orders.

    The database's own error names no row, and no amount can be guessed here, so nothing
    is changed: a person corrects (or deletes) those orders, then migrates again. Only
    ids are read, since SQLite cannot even load an amount past its column's precision.
    """
    Order = apps.get_model("orders", "Order")
    OrderItem = apps.get_model("orders", "OrderItem")
    bad_totals = Order.objects.filter(models.Q(total__lt=0) | models.Q(total__gt=ORDER_TOTAL_MAX))
    bad_items = OrderItem.objects.alias(line_total=models.F("quantity") * models.F("price")).filter(
        models.Q(quantity__lte=0)
        | models.Q(price__lt=0)
        | models.Q(price__gt=ITEM_PRICE_MAX)
        | models.Q(line_total__gt=ORDER_TOTAL_MAX)
    )
    order_ids = sorted(
        {str(pk) for pk in bad_totals.values_list("pk", flat=True)}
        | {str(pk) for pk in bad_items.values_list("order_id", flat=True)}
    )
    if order_ids:
        shown = ", ".join(order_ids[:SHOWN]) + (f" and {len(order_ids) - SHOWN} more" if len(order_ids) > SHOWN else "")
        raise RuntimeError(
            f"{len(order_ids)} order(s) have amounts outside the limits this migration enforces "
            f"(total 0 to {ORDER_TOTAL_MAX}, price 0 to {ITEM_PRICE_MAX}, quantity at least 1, "
            f"quantity x price at most {ORDER_TOTAL_MAX}): {shown}. Correct or delete them, then migrate again."
        )


class Migration(migrations.Migration):
    """Amounts the columns cannot hold are refused by the database (issue 14)."""

    dependencies = [("orders", "0003_production_depth")]

    operations = [
        migrations.RunPython(refuse_rows_past_the_limits, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="order",
            constraint=models.CheckConstraint(
                condition=models.Q(total__gte=0, total__lte=ORDER_TOTAL_MAX), name="order_total_in_range"
            ),
        ),
        migrations.AddConstraint(
            model_name="orderitem",
            constraint=models.CheckConstraint(condition=models.Q(quantity__gt=0), name="order_item_quantity_positive"),
        ),
        migrations.AddConstraint(
            model_name="orderitem",
            constraint=models.CheckConstraint(
                condition=models.Q(price__gte=0, price__lte=ITEM_PRICE_MAX), name="order_item_price_in_range"
            ),
        ),
        migrations.AddConstraint(
            model_name="orderitem",
            constraint=models.CheckConstraint(
                condition=LessThanOrEqual(models.F("quantity") * models.F("price"), ORDER_TOTAL_MAX),
                name="order_item_line_total_in_range",
            ),
        ),
    ]
