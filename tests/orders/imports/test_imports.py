"""Order CSVs from the local S3 into orders, on whichever database the suite runs on
(PostgreSQL: COPY and set-based SQL; SQLite: bulk inserts), with every bad input of the
format reported per row, or the file refused as a whole."""

import csv
import io
from decimal import Decimal
from unittest import mock

import pytest

from console.models import AuditEntry
from orders.imports import format as fmt
from orders.imports.models import Import, ImportedOrder, RejectedRow
from orders.imports.selectors import rejected_rows_csv
from orders.imports.services import csv_import_object, import_chunk_run, import_run_inline
from orders.lifecycle import OrderStatus
from orders.models import Order, OrderEvent, OrderItem
from orders.services import order_create
from orders.signals import orders_submitted
from tests.orders.imports.conftest import HEADER

pytestmark = pytest.mark.django_db


def rejected(import_run: Import) -> list[tuple[int, str, str]]:
    return list(RejectedRow.objects.filter(import_run=import_run).values_list("line", "column", "reason"))


def order_by_reference(reference: str) -> Order:
    return ImportedOrder.objects.select_related("order").get(reference=reference).order


# --- The happy path, and what an imported order looks like ---------------------------------------


def test_rows_become_orders_with_items_and_one_created_event_like_api_orders(run_import):
    data = HEADER + b"EXT-1,cust-1,p1,Widget,2,10.5\nEXT-1,cust-1,p2,Gadget,1,3\nEXT-2,cust-2,p1,Widget,1,10.50\n"
    import_run = run_import(data, mode="workflow")

    assert import_run.status == Import.Status.SUCCEEDED
    assert (import_run.rows_total, import_run.rows_ingested, import_run.rows_rejected) == (3, 3, 0)
    assert import_run.orders_created == 2
    order = order_by_reference("EXT-1")
    assert order.user_id == "cust-1" and order.total == Decimal("24.00") and order.version == 1
    assert order.status == OrderStatus.CREATED
    assert [(i.product_id, i.name, i.quantity, i.price) for i in order.items.order_by("id")] == [
        ("p1", "Widget", 2, Decimal("10.50")),
        ("p2", "Gadget", 1, Decimal("3.00")),
    ]
    (event,) = OrderEvent.objects.filter(order=order)
    assert (event.version, event.event_type, event.causation_id) == (1, "OrderCreated", str(import_run.pk))

    # The same items through the API's service: the event data has the same shape and values.
    api_order = order_create(
        user_id="cust-1",
        items=[
            {"product_id": "p1", "name": "Widget", "quantity": 2, "price": "10.5"},
            {"product_id": "p2", "name": "Gadget", "quantity": 1, "price": "3"},
        ],
        start_workflow=False,
    )
    assert event.data == api_order.events.get().data


def test_history_mode_imports_orders_as_decided_and_the_import_is_audited_once_per_action(run_import):
    import_run = run_import(HEADER + b"H-1,c,p,n,1,1\nH-2,c,p,n,1,1\n", mode="history")
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.APPROVED}
    actions = list(AuditEntry.objects.filter(object_id=str(import_run.pk)).values_list("action", flat=True))
    assert sorted(actions) == ["import.finish", "import.history", "import.start"]
    assert not AuditEntry.objects.filter(action="order.create").exists()


def test_large_files_are_split_into_chunks_and_every_row_is_imported_once(run_import):
    lines = [f"BIG-{n // 3},c{n // 3},p{n % 3},Thing,1,2.50" for n in range(600)]
    import_run = run_import(HEADER + "\n".join(lines).encode() + b"\n", chunk_bytes=2048)
    assert import_run.chunks_total > 5
    assert import_run.status == Import.Status.SUCCEEDED and import_run.orders_created == 200
    assert OrderItem.objects.count() == 600 and Order.objects.count() == 200
    assert all(order.items.count() == 3 for order in Order.objects.all()[:20])


# --- Bad input, one test each ---------------------------------------------------------------------


def test_utf8_with_bom(run_import):
    import_run = run_import(b"\xef\xbb\xbf" + HEADER + "B-1,c,p,Crème brûlée,1,1\n".encode())
    assert import_run.status == Import.Status.SUCCEEDED and import_run.encoding == "utf-8"
    assert order_by_reference("B-1").items.get().name == "Crème brûlée"


def test_latin1_bytes_are_read_as_latin1_and_say_so(run_import):
    import_run = run_import(HEADER + b"L-1,c,p,Caf\xe9 cr\xe8me,1,1\n")
    assert import_run.status == Import.Status.SUCCEEDED and import_run.encoding == "latin-1"
    assert order_by_reference("L-1").items.get().name == "Café crème"
    assert "not valid UTF-8" in import_run.warnings[0]


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"], ids=["crlf", "lf"])
def test_crlf_and_lf_line_endings(run_import, newline):
    data = (
        HEADER.replace(b"\n", newline) + newline.join([b"N-1,c,p,a,1,1", b"N-1,c,q,b,x,1", b"N-2,c,p,c,2,1"]) + newline
    )
    import_run = run_import(data)
    assert rejected(import_run) == [
        (2, "", "not imported: line 3 of the same order was rejected"),
        (3, "quantity", "quantity is not a whole number"),
    ]
    assert order_by_reference("N-2").items.get().name == "c"  # no stray carriage return


def test_mixed_line_endings_still_import_every_row(run_import):
    import_run = run_import(HEADER + b"M-1,c,p,a,1,1\r\nM-2,c,p,b,1,1\nM-3,c,p,c,1,1\r\n")
    assert import_run.status == Import.Status.SUCCEEDED and import_run.orders_created == 3
    assert Order.objects.count() == 3


def test_quoted_fields_with_newlines_and_commas_keep_their_text_and_lines_stay_right(run_import):
    data = HEADER + b'Q-1,c,p,"Line one\nline two, with a comma",1,1\nQ-2,c,p,"A ""quoted"" word",1,1\nQ-3,c,p,n,-1,1\n'
    import_run = run_import(data)
    assert order_by_reference("Q-1").items.get().name == "Line one\nline two, with a comma"
    assert order_by_reference("Q-2").items.get().name == 'A "quoted" word'
    # The bad row starts on physical line 5: the quoted line break counts.
    assert rejected(import_run) == [(5, "quantity", "quantity is negative")]


def test_missing_column_in_the_header_fails_the_whole_file(run_import):
    import_run = run_import(b"order_reference,user_id,product_id,name,quantity\nR,u,p,n,1\n")
    assert import_run.status == Import.Status.FAILED
    assert "lacks the column(s) price" in import_run.error
    assert not Order.objects.exists()


def test_rows_with_missing_or_extra_fields_are_rejected_with_their_line(run_import):
    import_run = run_import(HEADER + b"F-1,c,p,n,1,1\nF-2,c,p,n,1\nF-3,c,p,n,1,1,surprise\nF-4,c,p,n,1,1\n")
    assert import_run.status == Import.Status.PARTIAL
    assert rejected(import_run) == [
        (3, "", "row has 5 fields; the header has 6"),
        (4, "", "row has 7 fields; the header has 6"),
    ]
    assert set(ImportedOrder.objects.values_list("reference", flat=True)) == {"F-1", "F-4"}


def test_extra_columns_in_the_header_are_ignored_with_a_warning(run_import):
    import_run = run_import(b"order_reference,user_id,notes,product_id,name,quantity,price\nX-1,c,hi,p,n,1,1\n")
    assert import_run.status == Import.Status.SUCCEEDED
    assert "'notes'" in import_run.warnings[0]


def test_reordered_columns(run_import):
    import_run = run_import(b"price,quantity,name,product_id,user_id,order_reference\n9.99,3,Lamp,p-7,cust,O-1\n")
    assert import_run.status == Import.Status.SUCCEEDED
    item = order_by_reference("O-1").items.get()
    assert (item.product_id, item.name, item.quantity, item.price) == ("p-7", "Lamp", 3, Decimal("9.99"))


def test_empty_file(run_import):
    import_run = run_import(b"")
    assert import_run.status == Import.Status.FAILED and import_run.error == "The file is empty."


def test_header_only(run_import):
    import_run = run_import(HEADER)
    assert import_run.status == Import.Status.SUCCEEDED and import_run.rows_total == 0
    assert "no rows" in import_run.warnings[-1]


def test_a_10mb_single_line_without_line_break_is_refused(run_import):
    import_run = run_import(b"x" * (10 * 1024 * 1024))
    assert import_run.status == Import.Status.FAILED and "longer than 64 KiB" in import_run.error


def test_a_10mb_row_is_rejected_and_the_other_rows_imported(run_import):
    huge = b"W-2,c,p," + b"n" * (10 * 1024 * 1024) + b",1,1\n"
    import_run = run_import(HEADER + b"W-1,c,p,n,1,1\n" + huge + b"W-3,c,p,n,1,1\n")
    assert rejected(import_run) == [(3, "name", "name is longer than 255 characters")]
    row = RejectedRow.objects.get(import_run=import_run)
    assert len(row.values[3]) == 1000  # kept cut short
    assert set(ImportedOrder.objects.values_list("reference", flat=True)) == {"W-1", "W-3"}


def test_non_numeric_and_negative_quantities_and_prices(run_import):
    data = HEADER + (
        b"V-1,c,p,n,two,1\n"
        b"V-2,c,p,n,-3,1\n"
        b"V-3,c,p,n,1,abc\n"
        b"V-4,c,p,n,1,-5.00\n"
        b"V-5,c,p,n,0,1\n"
        b"V-6,c,p,n,1.5,1\n"
        b"V-7,c,p,n,1,1.999\n"
        b"V-8,c,p,n, 4 ,  7.25 \n"
    )
    import_run = run_import(data)
    assert rejected(import_run) == [
        (2, "quantity", "quantity is not a whole number"),
        (3, "quantity", "quantity is negative"),
        (4, "price", "price is not a number (write it like 1234.50: digits, a dot, no thousands separator)"),
        (5, "price", "price is negative"),
        (6, "quantity", "quantity must be between 1 and 1,000,000"),
        (7, "quantity", "quantity is not a whole number"),
        (8, "price", "price must have at most 10 digits before the point and 2 after"),
    ]
    item = order_by_reference("V-8").items.get()
    assert (item.quantity, item.price) == (4, Decimal("7.25"))


def test_an_order_with_a_bad_row_is_not_imported_half(run_import):
    import_run = run_import(HEADER + b"H-1,c,p1,n,1,1\nH-1,c,p2,n,oops,1\nH-1,c,p3,n,1,1\n")
    assert Order.objects.count() == 0
    assert rejected(import_run) == [
        (2, "", "not imported: line 3 of the same order was rejected"),
        (3, "quantity", "quantity is not a whole number"),
        (4, "", "not imported: line 3 of the same order was rejected"),
    ]


# --- Exactly at each limit, and one past it --------------------------------------------------------

BOUNDARY_ROW = {"order_reference": "B-1", "user_id": "c", "product_id": "p", "name": "n", "quantity": "1", "price": "1"}
PRICE_FORMAT = "price must have at most 10 digits before the point and 2 after"


@pytest.mark.parametrize(
    ("cells", "rejection"),
    [
        ({"order_reference": "r" * 128}, None),
        ({"order_reference": "r" * 129}, ("order_reference", "order_reference is longer than 128 characters")),
        ({"user_id": "u" * 128}, None),
        ({"user_id": "u" * 129}, ("user_id", "user_id is longer than 128 characters")),
        ({"product_id": "p" * 128}, None),
        ({"product_id": "p" * 129}, ("product_id", "product_id is longer than 128 characters")),
        ({"name": "é" * 255}, None),  # characters, not bytes
        ({"name": "é" * 256}, ("name", "name is longer than 255 characters")),
        ({"quantity": "1"}, None),
        ({"quantity": "0"}, ("quantity", "quantity must be between 1 and 1,000,000")),
        ({"quantity": "1000000"}, None),
        ({"quantity": "1000001"}, ("quantity", "quantity must be between 1 and 1,000,000")),
        ({"price": "1.25"}, None),
        ({"price": "1.255"}, ("price", PRICE_FORMAT)),
        ({"price": "9999999999.99"}, None),
        ({"price": "10000000000"}, ("price", PRICE_FORMAT)),
    ],
    ids=lambda value: repr(value)[:40] if isinstance(value, dict) else "",
)
def test_each_cell_limit_is_accepted_exactly_at_it_and_refused_one_past_it(run_import, cells, rejection):
    row = BOUNDARY_ROW | cells
    line = ",".join(row[column] for column in fmt.COLUMNS)
    import_run = run_import(HEADER + line.encode() + b"\n")

    if rejection is None:
        assert import_run.status == Import.Status.SUCCEEDED and rejected(import_run) == []
        item = order_by_reference(row["order_reference"]).items.select_related("order").get()
        stored = (item.order.user_id, item.product_id, item.name, item.quantity, item.price)
        assert stored == (row["user_id"], row["product_id"], row["name"], int(row["quantity"]), Decimal(row["price"]))
    else:
        assert import_run.status == Import.Status.PARTIAL and rejected(import_run) == [(2, *rejection)]
        assert not Order.objects.exists()


TOTAL_MAX = "999999999999.99"


def test_a_line_total_is_imported_up_to_the_largest_order_total_and_refused_one_cent_past_it(run_import):
    data = HEADER + (
        b"T-1,c,p,n,239,4184100418.41\n"  # 239 x 4,184,100,418.41 = 999,999,999,999.99
        b"T-2,c,p,n,125,8000000000.00\n"  # 1,000,000,000,000.00: one cent more
        b"T-3,c,p,n,1000000,9999999999.99\n"  # both cells at their own limits
    )
    import_run = run_import(data)

    assert rejected(import_run) == [
        (3, "price", f"quantity x price is 1000000000000.00, more than an order may total ({TOTAL_MAX})"),
        (4, "price", f"quantity x price is 9999999999990000.00, more than an order may total ({TOTAL_MAX})"),
    ]
    assert order_by_reference("T-1").total == Decimal(TOTAL_MAX)
    # Nothing the column cannot hold was written: every order reads back (the order list works).
    assert list(Order.objects.values_list("total", flat=True)) == [Decimal(TOTAL_MAX)]


def test_an_order_total_is_imported_up_to_the_largest_and_refused_whole_one_cent_past_it(run_import):
    data = HEADER + (
        b"S-1,c,p,n,1000,999999999.99\n"
        b"S-1,c,q,n,1,9.99\n"  # 999,999,999,990.00 + 9.99 = the largest total
        b"S-2,c,p,n,1000,999999999.99\n"
        b"S-2,c,q,n,1,10.00\n"  # one cent more
    )
    import_run = run_import(data)

    reason = f"not imported: the order's total 1000000000000.00 is more than an order may total ({TOTAL_MAX})"
    assert rejected(import_run) == [(4, "", reason), (5, "", reason)]
    assert set(ImportedOrder.objects.values_list("reference", flat=True)) == {"S-1"}
    assert order_by_reference("S-1").total == Decimal(TOTAL_MAX) and OrderItem.objects.count() == 2


def test_rows_of_one_order_naming_different_customers_are_rejected(run_import):
    import_run = run_import(HEADER + b"C-1,alice,p,n,1,1\nC-1,bob,q,n,1,1\n")
    assert Order.objects.count() == 0
    assert {reason for _, _, reason in rejected(import_run)} == {
        "the rows of this order name different customers (alice, bob)"
    }


def test_a_duplicate_row_is_a_rejected_row_and_keeps_its_whole_order_out(run_import):
    import_run = run_import(HEADER + b"D-1,c,p,n,1,5\nD-1,c,p,n,1,5\nD-1,c,q,n,1,5\nD-2,c,p,n,1,5\n")
    assert rejected(import_run) == [
        (2, "", "not imported: line 3 of the same order was rejected"),
        (3, "", "duplicate: repeats line 2 of the same order"),
        (4, "", "not imported: line 3 of the same order was rejected"),
    ]
    assert set(ImportedOrder.objects.values_list("reference", flat=True)) == {"D-2"}
    assert Order.objects.count() == 1 and OrderItem.objects.count() == 1
    assert import_run.status == Import.Status.PARTIAL
    counters = (import_run.rows_total, import_run.rows_ingested, import_run.rows_rejected, import_run.orders_created)
    assert counters == (4, 1, 3, 1)


def test_a_row_with_a_field_missing_keeps_the_order_it_names_out(run_import):
    import_run = run_import(HEADER + b"G-1,c,p1,n,1,1\nG-1,c,p2,n,1\nG-1,c,p3,n,1,1\nG-2,c,p,n,1,1\n")
    assert rejected(import_run) == [
        (2, "", "not imported: line 3 of the same order was rejected"),
        (3, "", "row has 5 fields; the header has 6"),
        (4, "", "not imported: line 3 of the same order was rejected"),
    ]
    assert set(ImportedOrder.objects.values_list("reference", flat=True)) == {"G-2"}
    assert OrderItem.objects.count() == 1


def test_a_file_that_is_not_csv_at_all(run_import):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    import_run = run_import(png)
    assert import_run.status == Import.Status.FAILED and "not a CSV text file" in import_run.error


def test_formula_cells_are_stored_as_text_and_neutralised_when_exported(run_import):
    data = HEADER + b"=R-1,+33 6 12,@sku,=HYPERLINK(\"x\"),1,1\n-R-2,c,p,=cmd|' /C calc'!A0,-1,1\n"
    import_run = run_import(data)
    item = order_by_reference("=R-1").items.get()
    assert (item.order.user_id, item.product_id, item.name) == ("+33 6 12", "@sku", '=HYPERLINK("x")')
    exported = list(csv.reader(io.StringIO("".join(rejected_rows_csv(import_run=import_run)))))
    assert exported[0] == [
        "line",
        "column",
        "reason",
        "order_reference",
        "user_id",
        "product_id",
        "name",
        "quantity",
        "price",
    ]
    assert exported[1][:3] == ["3", "quantity", "quantity is negative"]
    assert exported[1][3:] == ["'-R-2", "c", "p", "'=cmd|' /C calc'!A0", "'-1", "1"]


# --- Options: strict, dry run -----------------------------------------------------------------------


def test_strict_imports_nothing_when_a_row_is_rejected(run_import):
    import_run = run_import(HEADER + b"S-1,c,p,n,1,1\nS-2,c,p,n,x,1\n", strict=True)
    assert import_run.status == Import.Status.REJECTED
    assert not Order.objects.exists() and import_run.rows_rejected == 1 and import_run.rows_ingested == 0


def test_strict_imports_a_clean_file_after_checking_it(run_import):
    import_run = run_import(HEADER + b"S-1,c,p,n,1,1\nS-2,c,p,n,2,1\n", strict=True, chunk_bytes=20)
    assert import_run.status == Import.Status.SUCCEEDED
    assert (import_run.rows_total, import_run.rows_ingested, import_run.orders_created) == (2, 2, 2)


def test_dry_run_shows_the_first_rows_and_the_errors_and_writes_no_order(run_import):
    import_run = run_import(HEADER + b"P-1,c,p,n,1,1\nP-2,c,p,n,-1,1\n", dry_run=True)
    assert import_run.status == Import.Status.CHECKED and not Order.objects.exists()
    assert import_run.preview[0] == {
        "line": 2,
        "order_reference": "P-1",
        "user_id": "c",
        "product_id": "p",
        "name": "n",
        "quantity": "1",
        "price": "1",
    }
    assert import_run.preview[1]["problem"] == "quantity is negative"
    assert rejected(import_run) == [(3, "quantity", "quantity is negative")]


# --- Once and only once -------------------------------------------------------------------------------


def test_the_same_object_twice_creates_nothing_new(put_object):
    info = put_object(HEADER + b"I-1,c,p,n,1,1\n")
    first = import_run_inline(import_id=csv_import_object(info=info, mode="history").pk)
    again = csv_import_object(info=info, mode="history")
    assert again.pk == first.pk and Import.objects.count() == 1
    assert import_run_inline(import_id=again.pk).orders_created == 1
    assert Order.objects.count() == 1


def test_an_order_reference_imported_before_is_not_imported_again_from_another_file(run_import):
    first = run_import(HEADER + b"A-1,c,p,n,1,1\n")
    second = run_import(HEADER + b"A-1,c,p,n,1,1\nA-2,c,p,n,1,1\n")
    assert Order.objects.count() == 2
    ((line, column, reason),) = rejected(second)
    assert (line, column) == (2, "order_reference") and f"import {first.pk}, line 2" in reason


def test_a_chunk_that_crashes_halfway_leaves_nothing_and_the_import_resumes_without_duplicates(put_object):
    lines = [f"K-{n // 2},c,p{n % 2},n,1,1" for n in range(200)]
    info = put_object(HEADER + "\n".join(lines).encode() + b"\n")
    import_run = csv_import_object(info=info, mode="history", chunk_bytes=512)
    write_path = "orders.imports.bulk_postgres._write" if _postgres() else "orders.imports.bulk_generic._write_orders"
    from importlib import import_module

    module_name, function_name = write_path.rsplit(".", 1)
    real_write = getattr(import_module(module_name), function_name)
    calls = []

    def crash_on_the_third_chunk(*args, **kwargs):
        calls.append(1)
        real_write(*args, **kwargs)  # the chunk's orders are written...
        if len(calls) == 3:
            raise ConnectionError("worker lost")  # ...then the process dies before commit

    with mock.patch(write_path, side_effect=crash_on_the_third_chunk), pytest.raises(ConnectionError):
        import_run_inline(import_id=import_run.pk)
    import_run.refresh_from_db()
    assert import_run.status == Import.Status.RUNNING and import_run.chunks_done == 2
    assert Order.objects.count() == ImportedOrder.objects.count() < 100

    # The job runs again (a redelivered message): done chunks are skipped, the rest written.
    done = import_run.chunks.filter(status="DONE").first()
    import_chunk_run(chunk_id=done.pk, phase=import_run.phase)
    resumed = import_run_inline(import_id=import_run.pk)
    assert resumed.status == Import.Status.SUCCEEDED
    assert Order.objects.count() == ImportedOrder.objects.count() == resumed.orders_created == 100
    assert OrderItem.objects.count() == 200 and resumed.rows_ingested == 200


def _postgres() -> bool:
    from django.db import connection

    return connection.vendor == "postgresql"


def test_workflow_starts_of_imported_orders_are_handed_on_in_paced_batches(
    run_import, settings, django_capture_on_commit_callbacks
):
    from orders.imports.services import import_workflows_advance

    settings.CSV_IMPORT_WORKFLOW_BATCH = 2
    settings.CSV_IMPORT_WORKFLOW_STARTS_PER_SECOND = 4
    import_run = run_import(HEADER + b"".join(b"WF-%d,c,p,n,1,1\n" % n for n in range(5)), mode="workflow")
    started, queued = [], []
    with (
        mock.patch.object(orders_submitted, "send", side_effect=lambda sender, order_ids: started.extend(order_ids)),
        mock.patch("console.runtime.jobs.enqueue", side_effect=lambda *args, **kw: queued.append((args, kw))),
    ):
        for expected in (2, 2, 1, 0):
            with django_capture_on_commit_callbacks(execute=True):
                assert import_workflows_advance(import_id=import_run.pk) == expected
    assert sorted(started) == sorted(ImportedOrder.objects.values_list("order_id", flat=True))
    assert len(set(started)) == 5
    # A full batch queues the next one after batch / rate seconds; the last, short batch does not.
    assert queued == [(("orders.import_workflows", str(import_run.pk)), {"countdown": 0.5})] * 2
    import_run.refresh_from_db()
    assert import_run.workflows_started == 5


def test_a_file_of_thousands_of_malformed_rows_reports_each_one(run_import):
    bad = b"".join(b"M-%d,c,p,n,1\n" % n for n in range(2500))  # five fields each
    import_run = run_import(HEADER + bad + b"OK-1,c,p,n,1,1\n")
    assert import_run.status == Import.Status.PARTIAL
    assert (import_run.rows_total, import_run.rows_rejected, import_run.orders_created) == (2501, 2500, 1)
    assert RejectedRow.objects.filter(import_run=import_run).count() == 2500
    assert rejected(import_run)[-1] == (2501, "", "row has 5 fields; the header has 6")


def test_a_quote_left_open_at_the_end_is_reported_and_the_rows_before_it_imported(run_import):
    import_run = run_import(HEADER + b'U-1,c,p,n,1,1\nU-2,c,p,"open,1,1\nU-3,c,p,n,1,1\n')
    assert import_run.status == Import.Status.PARTIAL
    assert set(ImportedOrder.objects.values_list("reference", flat=True)) == {"U-1"}
    ((line, column, reason),) = rejected(import_run)
    # The open quote runs to the end of the file: the record has too few fields.
    assert (line, column, reason) == (3, "", "row has 4 fields; the header has 6")
