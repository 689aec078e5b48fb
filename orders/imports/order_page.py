"""What imports add to the order's console page (``orders.pages``): for an order that came
from an order CSV, the import it came from (linked), the line of the file, and the order's
external reference. Registered from ``orders.imports.admin``, with the console's pages."""

from uuid import UUID

from orders.imports.models import ImportedOrder
from orders.pages import OrderPanel, register_panel


def import_panel(order_id: UUID) -> OrderPanel | None:
    """The import and line an order came from, with its external reference; None for an
    order that was not imported. One query (the reference with its import)."""
    imported = (
        ImportedOrder.objects.filter(order_id=order_id)
        .select_related("import_run")
        .only("reference", "line", "import_run__id", "import_run__original_name", "import_run__key")
        .first()
    )
    if imported is None:
        return None
    return OrderPanel(
        template="admin/orders/order/_import_panel.html",
        context={"reference": imported.reference, "line": imported.line, "import_run": imported.import_run},
    )


# Before the workflow's panel: where the order came from, then what it is doing.
register_panel(key="import", panel=import_panel, order=50)
