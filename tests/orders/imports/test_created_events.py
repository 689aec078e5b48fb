"""The ``OrderCreated`` event of an imported order is the one ``orders.events`` builds for
every order (the API's, the bulk-insert path's): the PostgreSQL path writes it in SQL
(``jsonb_build_object``), and is held here to the builder, row for row."""

import contextvars

import pytest
from django.conf import settings

from console.platform.context import set_request_id
from orders.events import order_created_event
from orders.imports import bulk_postgres
from orders.imports.models import ImportedOrder
from orders.imports.rules import order_defaults
from orders.models import OrderEvent
from tests.orders.imports.conftest import HEADER

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

EVENT_FIELDS = ("event_type", "version", "data", "correlation_id", "causation_id", "actor_name", "published_at")

ROWS = (
    b'E-1,cust-1,p1,"Lamp, desk",2,10.5\n'
    b"E-1,cust-1,p2,Caf\xc3\xa9 cr\xc3\xa8me,1,3\n"
    b'E-1,cust-1,p3,"5"" screen",1000000,0.01\n'
    b"E-2,cust-2,p1,Widget,1,9999999999.99\n"
    b"E-3,cust-3,p1,Widget,x,1\n"  # rejected: E-3 is not imported, so has no event
    b"E-4,cust-4,p9,Thing,3,0\n"
)


def event_fields(event: OrderEvent) -> dict:
    return {name: getattr(event, name) for name in EVENT_FIELDS}


@pytest.mark.parametrize("mode", ["workflow", "history"])
def test_the_sql_path_stores_the_builders_created_event_for_every_imported_order(
    run_import, admin_user, monkeypatch, mode
):
    taken = []
    real = bulk_postgres.chunk_ingest
    monkeypatch.setattr(bulk_postgres, "chunk_ingest", lambda **options: taken.append(1) or real(**options))

    def in_a_request():
        set_request_id("req-created-events")  # the import's correlation id
        return run_import(HEADER + ROWS, mode=mode, actor=admin_user)

    import_run = contextvars.copy_context().run(in_a_request)
    assert taken and import_run.orders_created == 3 and import_run.rows_rejected == 1
    defaults = order_defaults(import_run)
    assert (defaults.actor_name, defaults.correlation_id) == ("alice-admin", "req-created-events")

    imported = ImportedOrder.objects.filter(import_run=import_run).select_related("order").order_by("line")
    compared = 0
    for reference in imported:
        order = reference.order
        (stored,) = OrderEvent.objects.filter(order=order)
        built = order_created_event(
            order=order,
            items=order.items.order_by("id"),
            correlation_id=defaults.correlation_id,
            causation_id=defaults.causation_id,
            actor_name=defaults.actor_name,
        )
        assert event_fields(stored) == event_fields(built), reference.reference
        compared += 1
    assert compared == 3
    # What the rows held, as the event says it (amounts as written: two decimals).
    first = OrderEvent.objects.get(order__import_references__reference="E-1").data
    status = settings.CSV_IMPORT_HISTORY_STATUS if mode == "history" else "CREATED"
    assert first["total"] == "10024.00" and first["status"] == status
    assert [(i["name"], i["quantity"], i["price"]) for i in first["items"]] == [
        ("Lamp, desk", 2, "10.50"),
        ("Café crème", 1, "3.00"),
        ('5" screen', 1000000, "0.01"),
    ]
