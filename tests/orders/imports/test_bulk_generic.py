"""The bulk-insert path of order CSV imports (``orders.imports.bulk_generic``), which databases
other than PostgreSQL take, forced here on every database: what each imported order is
made of, the row-level reasons and lines of what is refused, the counters, and the
batches and chunks a large file is written in."""

import uuid
from decimal import Decimal

import pytest

from console.aws import clients as aws
from console.aws import s3
from orders.imports import bulk, bulk_generic
from orders.imports.models import Import, ImportChunk, ImportedOrder, RejectedRow
from orders.imports.services import csv_import_object, import_chunk_run, import_plan, import_run_inline
from orders.lifecycle import OrderStatus
from orders.models import Order, OrderEvent, OrderItem
from tests.orders.imports.conftest import HEADER

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def generic_path(monkeypatch):
    """Every chunk through the bulk-insert path, PostgreSQL included."""
    monkeypatch.setattr(bulk, "bulk_postgres", bulk_generic)


def rejected(import_run: Import) -> list[tuple[int, str, str]]:
    return list(
        RejectedRow.objects.filter(import_run=import_run).order_by("line").values_list("line", "column", "reason")
    )


def counters(import_run: Import) -> tuple[int, int, int, int]:
    return (import_run.rows_total, import_run.rows_ingested, import_run.rows_rejected, import_run.orders_created)


def imported(import_run: Import) -> dict[str, dict]:
    """Each order the import wrote, by reference: its line, customer, total and items."""
    orders = {}
    for ref in ImportedOrder.objects.filter(import_run=import_run).select_related("order"):
        items = ref.order.items.order_by("product_id").values_list("product_id", "name", "quantity", "price")
        orders[ref.reference] = {
            "line": ref.line,
            "user": ref.order.user_id,
            "total": ref.order.total,
            "items": list(items),
        }
    return orders


# --- What an imported order is made of ----------------------------------------------------------


def test_each_order_gets_its_items_its_total_and_one_created_event_naming_the_import(put_object, operator):
    data = HEADER + (
        b"EXT-1,cust-1,p1,Widget,2,10.5\n"
        b"EXT-1,cust-1,p2,Gadget,3,0.1\n"
        b"EXT-2,cust-2,p9,Lamp,1,49\n"
        b"EXT-2,cust-2,p8,Cable,4,2.25\n"
    )
    info = put_object(data)
    import_run = import_run_inline(import_id=csv_import_object(info=info, mode="workflow", actor=operator).pk)

    assert import_run.status == Import.Status.SUCCEEDED and counters(import_run) == (4, 4, 0, 2)
    first, second = (ImportedOrder.objects.select_related("order").get(reference=r) for r in ("EXT-1", "EXT-2"))
    assert (first.line, second.line) == (2, 4)
    for ref in (first, second):
        order = ref.order
        assert (order.status, order.created_by_id, order.version) == (OrderStatus.CREATED, operator.pk, 1)
    assert (first.order.user_id, first.order.total) == ("cust-1", Decimal("21.30"))
    assert (second.order.user_id, second.order.total) == ("cust-2", Decimal("58.00"))
    assert list(second.order.items.order_by("id").values_list("product_id", "name", "quantity", "price")) == [
        ("p9", "Lamp", 1, Decimal("49.00")),
        ("p8", "Cable", 4, Decimal("2.25")),
    ]

    events = {event.order_id: event for event in OrderEvent.objects.all()}
    assert set(events) == {first.order_id, second.order_id}
    for ref in (first, second):
        event = events[ref.order_id]
        assert (event.version, event.event_type) == (1, "OrderCreated")
        assert (event.correlation_id, event.causation_id, event.actor_name) == (
            f"import-{import_run.pk}",
            str(import_run.pk),
            "olivia-operator",
        )
    assert events[first.order_id].data == {
        "status": "CREATED",
        "userId": "cust-1",
        "total": "21.30",
        "items": [
            {"productId": "p1", "name": "Widget", "quantity": 2, "price": "10.50"},
            {"productId": "p2", "name": "Gadget", "quantity": 3, "price": "0.10"},
        ],
    }
    assert events[second.order_id].data["items"][1] == {
        "productId": "p8",
        "name": "Cable",
        "quantity": 4,
        "price": "2.25",
    }


def test_history_orders_and_their_events_take_the_configured_status(run_import, settings):
    settings.CSV_IMPORT_HISTORY_STATUS = "COMPLETED"

    import_run = run_import(HEADER + b"H-1,c,p,n,1,1\n", mode="history")

    order = ImportedOrder.objects.get(import_run=import_run).order
    assert order.status == OrderStatus.COMPLETED and order.created_by_id is None
    assert order.events.get().data["status"] == "COMPLETED"
    assert order.events.get().actor_name == ""


def test_cells_are_trimmed_of_spaces_and_tabs_only_in_any_column_order(run_import):
    data = (
        b"price,Quantity,notes,name,product_id,user_id,order_reference\n"
        b' 7.5\t,\t3 ,ignored,"XXL shirt\n",XX-9 , \tXavier\t ,\tXX-1\n'
    )

    import_run = run_import(data)

    assert rejected(import_run) == []
    assert imported(import_run) == {
        "XX-1": {
            "line": 2,
            "user": "Xavier",
            "total": Decimal("22.50"),
            "items": [("XX-9", "XXL shirt\n", 3, Decimal("7.50"))],
        }
    }


# --- Row-level reasons, and what they keep out ----------------------------------------------------


def test_rows_naming_different_customers_are_a_conflict_not_duplicates_and_name_five_customers(run_import):
    customers = ["frank", "eve", "dave", "carol", "bob", "alice"]
    data = HEADER + b"".join(b"C-1,%s,p,n,1,1\n" % name.encode() for name in customers) + b"C-2,zoe,p,n,1,1\n"

    import_run = run_import(data)

    reason = "the rows of this order name different customers (alice, bob, carol, dave, eve)"
    assert rejected(import_run) == [(line, "user_id", reason) for line in range(2, 8)]
    assert set(imported(import_run)) == {"C-2"}
    assert counters(import_run) == (7, 1, 6, 1)


def test_the_other_rows_of_an_order_name_its_first_rejected_line_and_a_duplicate_its_first_copy(run_import):
    data = HEADER + (
        b"R-1,c,p1,n,1,1\n"  # 2
        b"R-1,c,p2,n,1,1\n"  # 3
        b"R-1,c,p3,n,x,1\n"  # 4: rejected
        b"R-1,c,p2,n,1,1\n"  # 5: repeats line 3
        b"R-1,c,p2,n,1,1\n"  # 6: repeats line 3 too
        b"R-1,c,p4,n,1,1\n"  # 7
        b"R-2,c,p,n,1,1\n"  # 8
    )

    import_run = run_import(data)

    other = "not imported: line 4 of the same order was rejected"
    assert rejected(import_run) == [
        (2, "", other),
        (3, "", other),
        (4, "quantity", "quantity is not a whole number"),
        (5, "", "duplicate: repeats line 3 of the same order"),
        (6, "", "duplicate: repeats line 3 of the same order"),
        (7, "", other),
    ]
    assert set(imported(import_run)) == {"R-2"}
    assert counters(import_run) == (7, 1, 6, 1)


def test_a_customer_conflict_is_reported_before_a_rejected_row_and_rejected_rows_name_no_customer(run_import):
    data = HEADER + (
        b"K-1,alice,p1,n,1,1\n"  # 2
        b"K-1,bob,p2,n,1,1\n"  # 3
        b"K-1,carol,p3,n,0,1\n"  # 4: rejected, its customer not counted
        b"K-2,alice,p1,n,1,1\n"  # 5
        b"K-2,bob,p2,n,-1,1\n"  # 6: rejected: the one customer left is alice
    )

    import_run = run_import(data)

    conflict = "the rows of this order name different customers (alice, bob)"
    assert rejected(import_run) == [
        (2, "user_id", conflict),
        (3, "user_id", conflict),
        (4, "quantity", "quantity must be between 1 and 1,000,000"),
        (5, "", "not imported: line 6 of the same order was rejected"),
        (6, "quantity", "quantity is negative"),
    ]
    assert not Order.objects.exists()


def test_rows_without_a_reference_are_rejected_alone_and_the_orders_around_them_imported(run_import):
    data = HEADER + b"E-1,c,p,n,1,1\n,c,p,n,1,1\n \t,c,q,n,1,1\nE-2,c,p,n,2,3\n"

    import_run = run_import(data)

    assert rejected(import_run) == [
        (3, "order_reference", "order_reference is empty"),
        (4, "order_reference", "order_reference is empty"),
    ]
    assert imported(import_run) == {
        "E-1": {"line": 2, "user": "c", "total": Decimal("1.00"), "items": [("p", "n", 1, Decimal("1.00"))]},
        "E-2": {"line": 5, "user": "c", "total": Decimal("6.00"), "items": [("p", "n", 2, Decimal("3.00"))]},
    }
    assert counters(import_run) == (4, 2, 2, 2)


def test_line_and_order_totals_over_the_limit_are_reported_in_cents(run_import):
    data = HEADER + (
        b"T-1,c,p,n,125,8000000000.0\n"  # one line: 1,000,000,000,000.00
        b"T-2,c,p,n,1000,999999999.9\n"  # 999,999,999,900.00
        b"T-2,c,q,n,1,100.0\n"  # + 100.00: 1,000,000,000,000.00
        b"T-3,c,p,n,1000,999999999.9\n"
        b"T-3,c,q,n,1,99.9\n"  # nine cents under the largest total
    )

    import_run = run_import(data)

    limit = "more than an order may total (999999999999.99)"
    assert rejected(import_run) == [
        (2, "price", f"quantity x price is 1000000000000.00, {limit}"),
        (3, "", f"not imported: the order's total 1000000000000.00 is {limit}"),
        (4, "", f"not imported: the order's total 1000000000000.00 is {limit}"),
    ]
    assert {ref: order["total"] for ref, order in imported(import_run).items()} == {"T-3": Decimal("999999999999.90")}


def test_rows_that_cannot_be_split_are_reported_as_rows_with_their_cells_kept(run_import):
    data = b"order_reference,user_id,product_id,name,quantity,price,notes\n" + (
        b"S-1,c,p,n,1,1,hi\nS-3,c,p,n,1,1\nS-4,c,p,n,1,1,\nS-3,c,q,n,1,1,\nS-5,c,q,n,1,1,,\n"
    )

    import_run = run_import(data)

    assert rejected(import_run) == [
        (3, "", "row has 6 fields; the header has 7"),
        (5, "", "not imported: line 3 of the same order was rejected"),
        (6, "", "row has 8 fields; the header has 7"),
    ]
    kept = dict(RejectedRow.objects.filter(import_run=import_run).values_list("line", "values"))
    assert kept == {
        3: ["S-3", "c", "p", "n", "1", "1"],
        5: ["S-3", "c", "q", "n", "1", "1", ""],
        6: ["S-5", "c", "q", "n", "1", "1", "", ""],
    }
    assert set(imported(import_run)) == {"S-1", "S-4"}
    assert counters(import_run) == (5, 2, 3, 2)


# --- Dry runs ---------------------------------------------------------------------------------------------


def test_a_dry_run_counts_what_would_be_imported_and_previews_unsplittable_rows_by_line(run_import):
    data = HEADER + b"P-1,c,p,n,1,1\nP-1,c,q,n,1,1\nP-2,c,p,n,1\nP-3,c,p,n,1,1\n"

    import_run = run_import(data, dry_run=True)

    assert import_run.status == Import.Status.CHECKED and not Order.objects.exists()
    assert not ImportedOrder.objects.exists() and not OrderEvent.objects.exists()
    assert counters(import_run) == (4, 3, 1, 2)
    assert import_run.preview[2] == {"line": 4, "problemColumn": "", "problem": "row has 5 fields; the header has 6"}
    assert import_run.preview[3] == {
        "line": 5,
        "order_reference": "P-3",
        "user_id": "c",
        "product_id": "p",
        "name": "n",
        "quantity": "1",
        "price": "1",
    }
    assert rejected(import_run) == [(4, "", "row has 5 fields; the header has 6")]


# --- Once only ----------------------------------------------------------------------------------------------


def test_a_file_imported_again_imports_nothing_and_names_the_first_import_and_line(run_import):
    data = HEADER + b"A-1,c,p,n,1,1\nA-2,c,p,n,1,1\nA-2,c,q,n,1,1\nA-3,c,p,n,1,1\n"
    first = run_import(data)
    before = (Order.objects.count(), OrderItem.objects.count(), OrderEvent.objects.count())

    again = run_import(HEADER + b"A-0,c,p,n,1,1\n" + data[len(HEADER) :] + b"A-4,c,p,n,2,2\n")

    assert (Order.objects.count(), OrderItem.objects.count(), OrderEvent.objects.count()) == (
        before[0] + 2,
        before[1] + 2,
        before[2] + 2,
    )
    assert rejected(again) == [
        (3, "order_reference", f"order already imported (import {first.pk}, line 2)"),
        (4, "order_reference", f"order already imported (import {first.pk}, line 3)"),
        (5, "order_reference", f"order already imported (import {first.pk}, line 3)"),
        (6, "order_reference", f"order already imported (import {first.pk}, line 5)"),
    ]
    assert set(imported(again)) == {"A-0", "A-4"}
    assert counters(again) == (6, 2, 4, 2)


def test_an_order_imported_before_is_reported_so_even_when_its_rows_are_bad_now(run_import):
    first = run_import(HEADER + b"B-1,c,p,n,1,1\n")

    again = run_import(HEADER + b"B-1,alice,p,n,1,1\nB-1,bob,q,n,1,1\nB-1,c,r,n,x,1\n")

    already = f"order already imported (import {first.pk}, line 2)"
    assert rejected(again) == [
        (2, "order_reference", already),
        (3, "order_reference", already),
        (4, "quantity", "quantity is not a whole number"),
    ]
    assert Order.objects.count() == 1


# --- Batches and chunks ---------------------------------------------------------------------------------


def test_orders_are_looked_up_and_written_in_batches_each_with_its_own_items(run_import, monkeypatch):
    first = run_import(HEADER + b"O-0,c,p,n,1,1\nO-3,c,p,n,1,1\nO-6,c,p,n,1,1\n")
    monkeypatch.setattr(bulk_generic, "BATCH", 2)
    data = HEADER + b"".join(
        b"O-%d,c%d,p%d,n,%d,1\n" % (order, order, item, item + 1) for order in range(7) for item in range(order % 3 + 1)
    )

    import_run = run_import(data)

    orders = imported(import_run)
    assert sorted(orders) == ["O-1", "O-2", "O-4", "O-5"]
    for ref, order in orders.items():
        n = int(ref[2:])
        items = [(f"p{item}", "n", item + 1, Decimal("1.00")) for item in range(n % 3 + 1)]
        assert (order["user"], order["total"], order["items"]) == (f"c{n}", sum(i[2] for i in items), items)
    assert {ref: order["line"] for ref, order in orders.items()} == {"O-1": 3, "O-2": 5, "O-4": 9, "O-5": 11}
    events = OrderEvent.objects.filter(order__import_references__import_run=import_run)
    assert sorted(event.data["total"] for event in events) == ["3.00", "3.00", "6.00", "6.00"]
    assert rejected(import_run) == [
        (2, "order_reference", f"order already imported (import {first.pk}, line 2)"),
        (8, "order_reference", f"order already imported (import {first.pk}, line 3)"),
        (14, "order_reference", f"order already imported (import {first.pk}, line 4)"),
    ]
    assert counters(import_run) == (13, 10, 3, 4)


def test_a_file_in_several_chunks_keeps_its_line_numbers_and_reads_each_row_once(run_import):
    rows = []
    for n in range(60):
        quantity = "x" if n % 20 == 7 else "1"
        rows.append(f"CH-{n},c,p,Thing,{quantity},2.5\nCH-{n},c,q,Other,2,1\n")
    import_run = run_import(HEADER + "".join(rows).encode(), chunk_bytes=512)

    assert import_run.chunks_total > 3
    bad = [7, 27, 47]
    assert rejected(import_run) == [
        line
        for n in bad
        for line in (
            (2 + 2 * n, "quantity", "quantity is not a whole number"),
            (3 + 2 * n, "", f"not imported: line {2 + 2 * n} of the same order was rejected"),
        )
    ]
    orders = imported(import_run)
    assert len(orders) == 57 and {order["total"] for order in orders.values()} == {Decimal("4.50")}
    assert {ref: order["line"] for ref, order in orders.items()} == {
        f"CH-{n}": 2 + 2 * n for n in range(60) if n not in bad
    }
    assert counters(import_run) == (120, 114, 6, 57)
    assert OrderItem.objects.count() == 114 and OrderEvent.objects.count() == 57


def test_a_chunk_of_a_file_replaced_after_planning_is_not_read_and_writes_nothing(put_object, files_bucket):
    info = put_object(HEADER + b"V-1,c,p,n,1,1\n")
    import_run = import_plan(import_id=csv_import_object(info=info, mode="history").pk)
    put_object(HEADER + b"V-1,c,p,n,9,9\n", key=info.key)  # another upload under the same key
    chunk = import_run.chunks.get()

    with pytest.raises(s3.ObjectChanged):
        import_chunk_run(chunk_id=chunk.pk, phase=import_run.phase)

    assert not Order.objects.exists() and not ImportedOrder.objects.exists()
    assert ImportChunk.objects.get(pk=chunk.pk).status != ImportChunk.Status.DONE


def test_a_versioned_object_replaced_after_planning_is_imported_as_it_was_when_planned(local_aws):
    client, bucket = aws.client("s3"), f"versioned-{uuid.uuid4()}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    client.put_object(Bucket=bucket, Key="orders.csv", Body=HEADER + b"W-1,c,p,n,2,3\n")
    info = s3.head(bucket=bucket, key="orders.csv")
    import_run = import_plan(import_id=csv_import_object(info=info, mode="history").pk)
    client.put_object(Bucket=bucket, Key="orders.csv", Body=HEADER + b"W-1,c,p,n,9,9\n")

    import_chunk_run(chunk_id=import_run.chunks.get().pk, phase=import_run.phase)

    import_run.refresh_from_db()
    assert import_run.version == info.version_id != import_run.etag
    assert import_run.status == Import.Status.SUCCEEDED
    assert imported(import_run) == {
        "W-1": {"line": 2, "user": "c", "total": Decimal("6.00"), "items": [("p", "n", 2, Decimal("3.00"))]}
    }


def test_a_latin1_file_is_read_in_latin1_on_this_path_too(run_import):
    import_run = run_import(HEADER + b"L-1,c,p,Caf\xe9 cr\xe8me,1,1\nL-2,c,p,\xc5se,1,1\n")

    assert (import_run.status, import_run.encoding) == (Import.Status.SUCCEEDED, "latin-1")
    names = dict(OrderItem.objects.values_list("order__import_references__reference", "name"))
    assert names == {"L-1": "Café crème", "L-2": "Åse"}
