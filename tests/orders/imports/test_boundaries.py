"""Order CSVs exactly at each limit and one past it, on both database paths.

Every cell check is written twice (Python for the bulk-insert path and the dry run, SQL
for PostgreSQL's set-based path): here both are held to the same table of limits, and a
whole file at the limits is imported through each path, the bulk-insert one included when
the suite runs on PostgreSQL (where imports otherwise take the set-based path). The rows'
structure (fields per record, line numbers, records split across reads) and the header's
checks are tested on the reader itself."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import override_settings

from orders.imports import bulk, bulk_generic, rules
from orders.imports import format as fmt
from orders.imports.models import Import, ImportedOrder, RejectedRow
from orders.imports.rows import iter_records
from orders.lifecycle import OrderStatus
from orders.models import Order
from tests.orders.imports.conftest import HEADER

pytestmark = pytest.mark.django_db

ROW = {"order_reference": "B-1", "user_id": "c", "product_id": "p", "name": "n", "quantity": "1", "price": "1"}
TOO_LONG_128 = "is longer than 128 characters"
MONEY = "must have at most 10 digits before the point and 2 after"
QUANTITY = "must be between 1 and 1,000,000"
TOTAL_MAX = "999999999999.99"

# (column, trimmed cell, the reason it is refused or None): at each limit and one past it.
LIMITS = [
    ("order_reference", "r" * 128, None),
    ("order_reference", "r" * 129, TOO_LONG_128),
    ("user_id", "u" * 128, None),
    ("user_id", "u" * 129, TOO_LONG_128),
    ("product_id", "p" * 128, None),
    ("product_id", "p" * 129, TOO_LONG_128),
    ("name", "é" * 255, None),  # characters, not bytes
    ("name", "é" * 256, "is longer than 255 characters"),
    ("quantity", "1", None),
    ("quantity", "0", QUANTITY),
    ("quantity", "1000000", None),
    ("quantity", "1000001", QUANTITY),
    ("quantity", "99999999", QUANTITY),  # the most digits SQL converts to a number
    ("quantity", "100000000", QUANTITY),  # one more: refused before any conversion
    ("quantity", "-1", "is negative"),
    ("quantity", "1.0", "is not a whole number"),
    ("price", "0", None),
    ("price", "0.01", None),
    ("price", "1.25", None),
    ("price", "1.255", MONEY),
    ("price", "9999999999.99", None),
    ("price", "10000000000", MONEY),
    ("price", ".5", "is not a number (write it like 1234.50: digits, a dot, no thousands separator)"),
    ("price", "-0.01", "is negative"),
    *[(column, "", "is empty") for column in fmt.COLUMNS],
]
# ASCII ids: a test id pytest has to escape cannot be selected again in the same process,
# which is how `make mutate` runs the tests of each mutant.
LIMIT_IDS = [
    f"{column}={value}" if value.isascii() and len(value) <= 13 else f"{column}-{len(value)}-chars"
    for column, value, _ in LIMITS
]


def row_with(column: str, value: str) -> dict[str, str]:
    return ROW | {column: value}


# --- The checks themselves: Python and SQL say the same at every limit ------------------------------


@pytest.mark.parametrize(("column", "value", "reason"), LIMITS, ids=LIMIT_IDS)
def test_the_python_checks_accept_each_limit_and_refuse_one_past_it(column, value, reason):
    problem = fmt.cell_problem(row_with(column, value))

    assert (problem and (problem.column, problem.reason)) == ((column, reason) if reason else None)


@pytest.mark.postgres
def test_the_sql_checks_give_the_same_answer_as_python_at_every_limit():
    cells = {column: f"v.{column}" for column in fmt.COLUMNS}
    rows = [row_with(column, value) for column, value, _ in LIMITS]
    values = ", ".join(["(" + ", ".join(["%s"] * (len(fmt.COLUMNS) + 1)) + ")"] * len(rows))
    sql = (
        f"SELECT v.n, {fmt.sql_problem_code(cells)}, {fmt.sql_all_pass(cells)} "
        f"FROM (VALUES {values}) AS v(n, {', '.join(fmt.COLUMNS)}) ORDER BY v.n"
    )
    params = [item for n, row in enumerate(rows) for item in (n, *(row[c] for c in fmt.COLUMNS))]

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        answers = cursor.fetchall()

    python = [fmt.cell_problem(row) for row in rows]
    assert [(code, passes) for _, code, passes in answers] == [
        (check.code if check else None, check is None) for check in python
    ]


# --- Whole files at the limits, through each database path -----------------------------------------


@pytest.fixture(params=["generic", pytest.param("postgres", marks=pytest.mark.postgres)])
def ingest_path(request, monkeypatch):
    """The bulk-insert path wherever the suite runs; the set-based one on PostgreSQL."""
    if request.param == "generic":
        monkeypatch.setattr(bulk, "bulk_postgres", bulk_generic)
    return request.param


def csv_line(row: dict[str, str]) -> bytes:
    return ",".join(row[column] for column in fmt.COLUMNS).encode() + b"\n"


def rejected(import_run: Import) -> list[tuple[int, str, str]]:
    return list(
        RejectedRow.objects.filter(import_run=import_run).order_by("line").values_list("line", "column", "reason")
    )


def test_a_file_at_every_limit_imports_the_rows_at_it_and_rejects_those_past_it(ingest_path, run_import):
    rows = [
        row_with(column, value) | ({} if column == "order_reference" else {"order_reference": f"L-{n}"})
        for n, (column, value, _) in enumerate(LIMITS)
    ]

    import_run = run_import(HEADER + b"".join(csv_line(row) for row in rows), mode="workflow")

    refused = [(n + 2, column, f"{column} {reason}") for n, (column, _, reason) in enumerate(LIMITS) if reason]
    # An empty reference names no order; every other row is an order of its own.
    assert rejected(import_run) == refused
    imported = dict(ImportedOrder.objects.values_list("reference", "order__user_id"))
    assert set(imported) == {
        row["order_reference"] for row, (*_, reason) in zip(rows, LIMITS, strict=True) if not reason
    }
    assert imported["L-2"] == "u" * 128
    assert (import_run.rows_total, import_run.rows_rejected, import_run.orders_created) == (
        len(LIMITS),
        len(refused),
        len(LIMITS) - len(refused),
    )
    assert import_run.status == Import.Status.PARTIAL
    assert set(Order.objects.values_list("status", flat=True)) == {OrderStatus.CREATED}


def test_line_and_order_totals_are_imported_up_to_the_largest_total_and_refused_one_cent_past_it(
    ingest_path, run_import
):
    data = HEADER + (
        b"T-1,c,p,n,239,4184100418.41\n"  # 239 x 4,184,100,418.41 = the largest total
        b"T-2,c,p,n,125,8000000000.00\n"  # 1,000,000,000,000.00: one cent more
        b"S-1,c,p,n,1000,999999999.99\n"
        b"S-1,c,q,n,1,9.99\n"  # 999,999,999,990.00 + 9.99 = the largest total
        b"S-2,c,p,n,1000,999999999.99\n"
        b"S-2,c,q,n,1,10.00\n"  # one cent more
    )

    import_run = run_import(data)

    order_reason = f"not imported: the order's total 1000000000000.00 is more than an order may total ({TOTAL_MAX})"
    assert rejected(import_run) == [
        (3, "price", f"quantity x price is 1000000000000.00, more than an order may total ({TOTAL_MAX})"),
        (6, "", order_reason),
        (7, "", order_reason),
    ]
    totals = dict(ImportedOrder.objects.values_list("reference", "order__total"))
    assert totals == {"T-1": Decimal(TOTAL_MAX), "S-1": Decimal(TOTAL_MAX)}


def test_the_rules_across_rows_keep_whole_orders_out_and_say_why(ingest_path, run_import):
    run_import(HEADER + b"OLD-1,c,p,n,1,1\n")
    data = HEADER + (
        b"D-1,c,p,n,1,5\n"  # 2
        b"D-1,c,p,n,1,5\n"  # 3: a duplicate of line 2
        b"C-1,alice,p,n,1,1\n"  # 4
        b"C-1,bob,q,n,1,1\n"  # 5: another customer
        b"G-1,c,p,n,1\n"  # 6: a field missing, still naming G-1
        b"G-1,c,q,n,1,1\n"  # 7
        b"OLD-1,c,p,n,1,1\n"  # 8: imported before
        b"OK-1,c,p,n,2,2.50\n"  # 9
        b"OK-1,c,q,n,1,1\n"  # 10
    )

    import_run = run_import(data)

    first_import = ImportedOrder.objects.get(reference="OLD-1")
    assert rejected(import_run) == [
        (2, "", "not imported: line 3 of the same order was rejected"),
        (3, "", "duplicate: repeats line 2 of the same order"),
        (4, "user_id", "the rows of this order name different customers (alice, bob)"),
        (5, "user_id", "the rows of this order name different customers (alice, bob)"),
        (6, "", "row has 5 fields; the header has 6"),
        (7, "", "not imported: line 6 of the same order was rejected"),
        (8, "order_reference", f"order already imported (import {first_import.import_run_id}, line 2)"),
    ]
    ok = ImportedOrder.objects.select_related("order").get(reference="OK-1")
    assert (ok.import_run_id, ok.line, ok.order.total, ok.order.items.count()) == (import_run.pk, 9, Decimal("6.00"), 2)
    assert (import_run.rows_total, import_run.rows_ingested, import_run.rows_rejected, import_run.orders_created) == (
        9,
        2,
        7,
        1,
    )


def test_a_row_holding_a_nul_past_the_checked_start_is_one_rejected_row(ingest_path, run_import):
    # The file's first 8 KB are checked for binary data; a NUL later on is the row's problem.
    filler = b"".join(b"F-%d,c,p,n,1,1\n" % n for n in range(1, 801))
    import_run = run_import(HEADER + filler + b"N-1,c,p,bad\x00name,1,1\nN-2,c,p,n,1,1\n")

    assert len(HEADER + filler) > 8192
    assert rejected(import_run) == [(802, "", "row holds a NUL byte (binary data)")]
    assert RejectedRow.objects.get(import_run=import_run).values == ["N-1", "c", "p", "bad\ufffdname", "1", "1"]
    assert import_run.status == Import.Status.PARTIAL
    assert (import_run.rows_total, import_run.rows_ingested, import_run.orders_created) == (802, 801, 801)


def test_a_dry_run_previews_the_first_rows_with_their_problems_and_writes_nothing(ingest_path, run_import):
    rows = [csv_line(ROW | {"order_reference": f"P-{n}", "quantity": "x" if n == 1 else "1"}) for n in range(25)]

    import_run = run_import(HEADER + b"".join(rows), dry_run=True)

    assert not Order.objects.exists() and len(import_run.preview) == 20
    assert import_run.preview[0] == {"line": 2, **ROW, "order_reference": "P-0"}
    assert import_run.preview[1] == {
        "line": 3,
        **ROW,
        "order_reference": "P-1",
        "quantity": "x",
        "problemColumn": "quantity",
        "problem": "quantity is not a whole number",
    }
    assert import_run.preview[-1]["line"] == 21


# --- Records: fields per row, line numbers, reads that split a record -------------------------------


def records(data: bytes | list[bytes], *, field_count: int = 3) -> list[tuple]:
    """The records the reader makes of ``data`` (one read, or the reads listed)."""
    reads = [data] if isinstance(data, bytes) else data
    return [
        (r.line, r.cells, r.problem, r.reason)
        for r in iter_records(reads, encoding="utf-8", first_line=2, field_count=field_count)
    ]


def test_rows_of_one_field_too_many_or_too_few_are_reported_with_their_count():
    assert records(b"a,b,c\na,b\na,b,c,d\na\n") == [
        (2, ["a", "b", "c"], 0, ""),
        (3, ["a", "b"], fmt.WRONG_FIELD_COUNT, "has 2 fields; the header has 3"),
        (4, ["a", "b", "c", "d"], fmt.WRONG_FIELD_COUNT, "has 4 fields; the header has 3"),
        (5, ["a"], fmt.WRONG_FIELD_COUNT, "has 1 field; the header has 3"),
    ]


def test_line_numbers_count_blank_lines_and_line_breaks_inside_quotes():
    data = b'a,b,c\n\n   \na,"two\nlines",c\na,b,c\n'

    assert records(data) == [
        (2, ["a", "b", "c"], 0, ""),
        (5, ["a", "two\nlines", "c"], 0, ""),
        (7, ["a", "b", "c"], 0, ""),
    ]


def test_a_record_split_across_reads_at_any_byte_is_read_whole():
    data = 'a,"crème, brûlée",c\nd,e,f\n'.encode() * 3

    whole = records(data)

    assert len(whole) == 6 and whole[0] == (2, ["a", "crème, brûlée", "c"], 0, "")
    for size in (1, 2, 3, 7):
        assert records([data[i : i + size] for i in range(0, len(data), size)]) == whole
    assert records([b"", data[:5], b"", b"", data[5:]]) == whole


def test_binary_and_undecodable_rows_are_unreadable_rows():
    assert records(b"a,b\x00,c\nd,e,f\n") == [
        (2, ["a", "b\x00", "c"], fmt.UNREADABLE_ROW, "holds a NUL byte (binary data)"),
        (3, ["d", "e", "f"], 0, ""),
    ]
    assert records(b"a,\xff,c\n") == [(2, None, fmt.UNREADABLE_ROW, "is not valid utf-8: invalid start byte")]


# --- The header ---------------------------------------------------------------------------------------------


def test_header_names_are_matched_whatever_their_case_spacing_or_separators():
    header = fmt.header_parse(
        ["\ufeffOrder Reference", " USER_ID ", "Product-Id", "notes", "name", "Quantity", "price", "x" * 50]
    )

    assert header.positions == {
        "order_reference": 0,
        "user_id": 1,
        "product_id": 2,
        "name": 4,
        "quantity": 5,
        "price": 6,
    }
    assert header.ignored == ["notes", "x" * 50]


def test_a_header_naming_a_column_twice_or_lacking_one_is_refused_saying_which():
    with pytest.raises(fmt.FileRejected) as twice:
        fmt.header_parse([*fmt.COLUMNS, "Price"])
    cells = [f"column-{n}-" + "x" * 40 for n in range(12)]
    with pytest.raises(fmt.FileRejected) as lacking:
        fmt.header_parse(cells)
    with pytest.raises(fmt.FileRejected) as empty:
        fmt.header_parse([])

    assert str(twice.value) == "The header names the column 'price' twice (columns 6 and 7)."
    shown = ", ".join(repr(cell[:40]) for cell in cells[:10])
    assert str(lacking.value) == (
        "The header lacks the column(s) order_reference, user_id, product_id, name, quantity, price. An order CSV "
        f"starts with the line order_reference,user_id,product_id,name,quantity,price (any order); this file's "
        f"first line has {shown}."
    )
    assert str(empty.value).endswith("this file's first line has nothing.")


# --- What every order of an import gets ------------------------------------------------------------------------


def test_history_imports_take_the_configured_status_and_refuse_one_that_is_not_a_status(operator):
    history = Import(mode=Import.Mode.HISTORY, created_by=operator, correlation_id="")

    with override_settings(CSV_IMPORT_HISTORY_STATUS="COMPLETED"):
        defaults = rules.order_defaults(history)
    with override_settings(CSV_IMPORT_HISTORY_STATUS="SHIPPED-ISH"), pytest.raises(ValueError, match="SHIPPED-ISH"):
        rules.order_defaults(history)

    assert defaults == rules.OrderDefaults(
        status=OrderStatus.COMPLETED,
        created_by_id=operator.pk,
        actor_name="olivia-operator",
        correlation_id=f"import-{history.pk}",
        causation_id=str(history.pk),
    )
    workflow = rules.order_defaults(Import(mode=Import.Mode.WORKFLOW, correlation_id="req-42"))
    assert (workflow.status, workflow.created_by_id, workflow.actor_name, workflow.correlation_id) == (
        OrderStatus.CREATED,
        None,
        "",
        "req-42",
    )


@pytest.mark.parametrize(
    ("cells", "position", "reference"),
    [(["R-1 ", "c"], 0, "R-1"), (["\tR-2", "c"], 0, "R-2"), (["R-3"], 1, ""), (None, 0, ""), ([], 0, "")],
)
def test_a_row_that_cannot_be_split_still_names_its_order_when_it_has_a_cell_there(cells, position, reference):
    assert rules.structural_reference(cells, position) == reference
