"""Amounts an order's columns cannot hold are refused before anything is written, with the
field named (issue 14: one order whose total did not fit broke the order list for
everyone), and the database refuses whatever gets past the code."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from console.models import AuditEntry, IdempotencyKey
from orders.events import ReplayError
from orders.models import (
    ITEM_PRICE_MAX,
    ITEM_QUANTITY_MAX,
    ORDER_ITEMS_MAX,
    ORDER_TOTAL_MAX,
    Order,
    OrderEvent,
    OrderItem,
)
from orders.services import OrderAmountsInvalid, order_amounts_check, order_create, order_repair
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_workflow_start(submitted_orders):
    # Orders tells of its submissions; no workflow listens here.
    return submitted_orders


def item(quantity, price, n: int = 0) -> dict:
    return {"productId": f"p{n}", "name": "Widget", "quantity": quantity, "price": price}


def assert_nothing_written() -> None:
    assert not Order.objects.exists()
    assert not OrderItem.objects.exists()
    assert not OrderEvent.objects.exists()
    assert not AuditEntry.objects.filter(action="order.create").exists()
    assert not IdempotencyKey.objects.exists()


def test_the_limits_are_exactly_what_the_columns_hold():
    total, price = Order._meta.get_field("total"), OrderItem._meta.get_field("price")
    assert ORDER_TOTAL_MAX == Decimal("999999999999.99")
    assert ITEM_PRICE_MAX == Decimal("9999999999.99")
    total.run_validators(ORDER_TOTAL_MAX)
    price.run_validators(ITEM_PRICE_MAX)
    with pytest.raises(ValidationError):
        total.run_validators(ORDER_TOTAL_MAX + Decimal("0.01"))
    with pytest.raises(ValidationError):
        price.run_validators(ITEM_PRICE_MAX + Decimal("0.01"))


# --- The REST API ---------------------------------------------------------------------------


def test_an_order_whose_one_line_exceeds_the_total_is_a_400_naming_the_line_and_nothing_is_written(api):
    # The report of issue 14: 1,000,000 x 1,000,000 (each within its own limit).
    response = api.post(
        "/api/orders",
        {"userId": "u", "items": [item(1, 5, 0), item(1_000_000, 1_000_000, 1)]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="too-large",
    )
    assert response.status_code == 400, response.content
    body = response.json()
    assert (body["status"], body["code"]) == (400, "invalid")
    assert set(body["errors"]) == {"items.1", "items"}
    assert "1,000,000,000,000.00" in body["errors"]["items.1"][0]
    assert "999,999,999,999.99" in body["errors"]["items.1"][0]
    assert body["errors"]["items"] == [
        "The order's total would be 1,000,000,000,005.00, above the largest allowed 999,999,999,999.99."
    ]
    assert_nothing_written()
    assert api.get("/api/orders").status_code == 200


def test_many_lines_each_within_limits_whose_sum_exceeds_the_total_are_a_400_on_items(api):
    # 200 lines of 9,999,990,000.00 each: every line fits, their sum does not.
    lines = [item(1_000_000, "9999.99", n) for n in range(200)]
    response = api.post("/api/orders", {"userId": "u", "items": lines}, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()["errors"]
    assert list(errors) == ["items"]
    assert "1,999,998,000,000.00" in errors["items"][0]
    assert_nothing_written()


def test_an_order_at_exactly_the_largest_total_is_created_and_every_read_still_works(api, admin_client):
    # 100 x 9,999,999,999.99 + 0.99 = 999,999,999,999.99: the largest total, to the cent.
    at_limit = [item(100, str(ITEM_PRICE_MAX), 0), item(1, "0.99", 1)]
    created = api.post("/api/orders", {"userId": "u", "items": at_limit}, format="json")
    assert created.status_code == 201, created.content
    assert Decimal(str(created.json()["total"])) == ORDER_TOTAL_MAX
    order_id = created.json()["orderId"]
    assert Order.objects.get(pk=order_id).total == ORDER_TOTAL_MAX
    assert OrderEvent.objects.get(order_id=order_id).data["total"] == "999999999999.99"

    one_cent_more = [item(100, str(ITEM_PRICE_MAX), 0), item(1, "1.00", 1)]
    refused = api.post("/api/orders", {"userId": "u", "items": one_cent_more}, format="json")
    assert refused.status_code == 400 and list(refused.json()["errors"]) == ["items"]

    assert api.get("/api/orders").status_code == 200
    assert api.get(f"/api/orders/{order_id}").status_code == 200
    assert admin_client.get(reverse("admin:orders_order_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:orders_order_change", args=[order_id])).status_code == 200
    assert Order.objects.count() == 1


def test_a_failed_request_keeps_no_idempotency_key_so_the_corrected_retry_is_created(api):
    too_large = {"userId": "u", "items": [item(ITEM_QUANTITY_MAX, str(ITEM_PRICE_MAX))]}
    assert api.post("/api/orders", too_large, format="json", HTTP_IDEMPOTENCY_KEY="k").status_code == 400
    corrected = {"userId": "u", "items": [item(1, "10")]}
    response = api.post("/api/orders", corrected, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 201 and not response.has_header("Idempotent-Replayed")


def test_items_are_one_to_the_maximum_and_the_schema_says_so(api):
    assert api.post("/api/orders", {"userId": "u", "items": []}, format="json").status_code == 400
    too_many = [item(1, 1, n) for n in range(ORDER_ITEMS_MAX + 1)]
    response = api.post("/api/orders", {"userId": "u", "items": too_many}, format="json")
    assert response.status_code == 400 and list(response.json()["errors"]) == ["items"]
    assert not Order.objects.exists()
    most = [item(1, 1, n) for n in range(ORDER_ITEMS_MAX)]
    assert api.post("/api/orders", {"userId": "u", "items": most}, format="json").status_code == 201

    schema = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    items = schema["components"]["schemas"]["OrderCreateRequest"]["properties"]["items"]
    assert (items["minItems"], items["maxItems"]) == (1, ORDER_ITEMS_MAX)
    line = schema["components"]["schemas"]["OrderItemRequest"]["properties"]
    assert line["quantity"]["maximum"] == ITEM_QUANTITY_MAX


# --- The service, for every other caller ----------------------------------------------------


def test_order_create_refuses_amounts_past_the_limits_before_writing_anything():
    items = [{"product_id": "p", "name": "n", "quantity": 1_000_000, "price": Decimal("1000000")}]
    with pytest.raises(OrderAmountsInvalid) as refused:
        order_create(user_id="u", items=items, source=AuditEntry.Source.SYSTEM)
    assert set(refused.value.errors) == {"items.0", "items"}
    assert_nothing_written()


@pytest.mark.parametrize(
    ("items", "field"),
    [
        ([], "items"),
        ([{"quantity": 0, "price": "1"}], "items.0.quantity"),
        ([{"quantity": ITEM_QUANTITY_MAX + 1, "price": "1"}], "items.0.quantity"),
        ([{"quantity": True, "price": "1"}], "items.0.quantity"),
        ([{"quantity": "2", "price": "1"}], "items.0.quantity"),
        ([{"quantity": 1, "price": "-0.01"}], "items.0.price"),
        ([{"quantity": 1, "price": ITEM_PRICE_MAX + Decimal("0.01")}], "items.0.price"),
        ([{"quantity": 1, "price": "NaN"}], "items.0.price"),
        ([{"quantity": 1, "price": "Infinity"}], "items.0.price"),
        ([{"quantity": 1, "price": Decimal("1e40")}], "items.0.price"),
        ([{"quantity": 1, "price": None}], "items.0.price"),
        ([{"quantity": 1, "price": "1"}, {"quantity": 1_000_000, "price": "1000000"}], "items.1"),
    ],
)
def test_the_check_names_each_field_out_of_bounds(items, field):
    with pytest.raises(OrderAmountsInvalid) as refused:
        order_amounts_check(items=items)
    assert field in refused.value.errors


def test_the_check_rounds_prices_to_cents_and_sums_the_total():
    checked, total = order_amounts_check(items=[{"quantity": 3, "price": "0.335"}, {"quantity": 1, "price": 2.5}])
    assert [line["price"] for line in checked] == [Decimal("0.34"), Decimal("2.50")]
    assert total == Decimal("3.52")


def test_a_repair_refuses_to_write_amounts_past_the_limits_from_a_bad_history():
    order = OrderFactory()
    created = order.events.get(version=1)
    created.data = {**created.data, "total": "1000000000000.00"}  # written past the code
    created.save(update_fields=["data"])
    with pytest.raises(ReplayError, match="outside 0 to 999,999,999,999.99"):
        order_repair(order_id=order.pk)
    order.refresh_from_db()
    assert order.total == Decimal("20.00")
    assert not AuditEntry.objects.filter(action="order.repair").exists()


# --- The database ---------------------------------------------------------------------------


def test_the_database_refuses_amounts_forced_past_the_code(api, api_user):
    order = OrderFactory(created_by=api_user)
    line = order.items.get()
    # Past the column's precision PostgreSQL's numeric type refuses first (a DataError);
    # SQLite would store it, and there the check constraint refuses it.
    past_precision = IntegrityError if connection.vendor == "sqlite" else DataError
    forced = [
        (Order.objects.filter(pk=order.pk), {"total": Decimal("-0.01")}, IntegrityError),
        (Order.objects.filter(pk=order.pk), {"total": ORDER_TOTAL_MAX + Decimal("0.01")}, past_precision),
        (OrderItem.objects.filter(pk=line.pk), {"quantity": 0}, IntegrityError),
        (OrderItem.objects.filter(pk=line.pk), {"price": Decimal("-1")}, IntegrityError),
        # Both within their columns; the line's total is not.
        (OrderItem.objects.filter(pk=line.pk), {"quantity": 1_000_000, "price": Decimal("1000000")}, IntegrityError),
    ]
    for queryset, values, expected in forced:
        with pytest.raises(expected), transaction.atomic():
            queryset.update(**values)

    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {OrderItem._meta.db_table} SET quantity = 2000000, price = 9999999999.99 WHERE id = %s",
            [line.pk],
        )
    with pytest.raises(IntegrityError), transaction.atomic():
        OrderItem.objects.create(order=order, product_id="p", name="n", quantity=1_000_000, price=ITEM_PRICE_MAX)

    line.refresh_from_db()
    assert (line.quantity, line.price) == (2, Decimal("10.00"))
    assert api.get("/api/orders").json()["results"][0]["total"] == 20


@pytest.mark.django_db(transaction=True)
def test_the_constraints_migration_names_orders_already_past_the_limits_and_changes_nothing():
    # Rows written before the constraints (the bug's own orders) would make the migration
    # fail with a bare constraint error: it names them instead, and adds nothing.
    before = [("orders", "0003_production_depth")]
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    executor.migrate(before)
    try:
        old = MigrationExecutor(connection).loader.project_state(before).apps
        OldOrder, OldItem = old.get_model("orders", "Order"), old.get_model("orders", "OrderItem")
        fine = OldOrder.objects.create(user_id="fine", total=Decimal("10"))
        OldItem.objects.create(order=fine, product_id="p", name="n", quantity=1, price=Decimal("10"))
        bad = OldOrder.objects.create(user_id="bad", total=Decimal("0"))
        OldItem.objects.create(order=bad, product_id="p", name="n", quantity=0, price=Decimal("1"))

        with pytest.raises(RuntimeError, match=rf"1 order\(s\) .*: {bad.pk}\. Correct or delete them"):
            MigrationExecutor(connection).migrate([("orders", "0004_amount_limits")])
        assert OldItem.objects.get(order=bad).quantity == 0  # nothing changed, nothing lost

        OldItem.objects.filter(order=bad).update(quantity=1)  # a person corrected it
        MigrationExecutor(connection).migrate([("orders", "0004_amount_limits")])
        with pytest.raises(IntegrityError), transaction.atomic():
            OrderItem.objects.filter(order_id=bad.pk).update(quantity=0)
    finally:
        MigrationExecutor(connection).migrate(latest)
