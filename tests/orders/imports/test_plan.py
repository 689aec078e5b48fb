"""Splitting an order CSV into chunks: boundaries between records and between orders,
line numbers, encodings, and files that are no order CSV at all."""

import csv
import io
import re

import pytest

from orders.imports.format import COLUMNS, FileRejected, cell_problem, header_parse
from orders.imports.plan import LATIN1, UTF8, plan_file

HEADER = b"order_reference,user_id,product_id,name,quantity,price\n"


def blocks(data: bytes, size: int):
    return (data[i : i + size] for i in range(0, len(data), size))


def orders_csv(orders: int, items: int = 3, multiline_every: int = 0) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for order in range(orders):
        for item in range(items):
            name = (
                f"Item {item}\nsecond line, with a comma" if multiline_every and order % multiline_every == 0 else "x"
            )
            writer.writerow([f"R{order}", "u", f"p{item}", name, 1, "1.00"])
    return HEADER + out.getvalue().encode()


@pytest.mark.parametrize("block_size", [1, 7, 64, 1 << 20])
def test_chunks_cover_the_file_and_never_split_an_order_or_a_quoted_field(block_size):
    data = orders_csv(60, items=3, multiline_every=4)
    plan = plan_file(blocks(data, block_size), size=len(data), chunk_bytes=300)
    assert len(plan.chunks) > 3
    assert plan.chunks[0].byte_start == len(HEADER)
    assert plan.chunks[-1].byte_end == len(data)
    for before, after in zip(plan.chunks, plan.chunks[1:], strict=False):
        assert before.byte_end == after.byte_start
    seen = set()
    for chunk in plan.chunks:
        rows = list(csv.reader(io.StringIO(data[chunk.byte_start : chunk.byte_end].decode(), newline="")))
        references = {row[0] for row in rows}
        assert not references & seen, "an order is split between chunks"
        seen |= references
        assert all(len(row) == len(COLUMNS) for row in rows), "a chunk starts inside a quoted field"
        # The physical line of the chunk's first record.
        assert chunk.first_line == data[: chunk.byte_start].count(b"\n") + 1
        assert chunk.lines == data[chunk.byte_start : chunk.byte_end].count(b"\n")
        assert chunk.needs_python_reader == any("\n" in cell for row in rows for cell in row)
    assert len(seen) == 60


def test_the_same_chunks_whatever_the_block_size():
    data = orders_csv(40, items=2, multiline_every=3)
    plans = [plan_file(blocks(data, size), size=len(data), chunk_bytes=200).chunks for size in (3, 100, 5000)]
    assert plans[0] == plans[1] == plans[2]


def test_utf8_with_bom_and_crlf():
    data = b"\xef\xbb\xbfOrder Reference,userId,Product-ID,NAME,quantity,price\r\nR1,u,p,Caf\xc3\xa9,1,2\r\n"
    plan = plan_file(blocks(data, 5), size=len(data), chunk_bytes=1 << 20)
    assert plan.encoding == UTF8
    assert plan.header.positions == {column: index for index, column in enumerate(COLUMNS)}
    assert plan.chunks[0].first_line == 2 and plan.warnings == []


def test_latin1_bytes_are_read_as_latin1_with_a_warning_naming_the_line():
    data = HEADER + b"R1,u,p,ok,1,2\nR2,u,p,Caf\xe9,1,2\n"
    plan = plan_file(blocks(data, 4), size=len(data), chunk_bytes=1 << 20)
    assert plan.encoding == LATIN1
    assert "not valid UTF-8 (first at line 3)" in plan.warnings[0]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"\n\n  \n", "The file is empty."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00", "binary data"),
        (b"a" * (10 * 1024 * 1024), "longer than 64 KiB"),
        (b"order_reference,user_id,product_id,name,quantity\nR1,u,p,n,1\n", "lacks the column(s) price"),
        (b"<html><body>Not found</body></html>\n", "lacks the column(s) order_reference"),
    ],
    ids=["empty", "blank-lines", "png", "10mb-single-line", "missing-column", "html"],
)
def test_files_that_are_no_order_csv_are_refused_as_a_whole(data, message):
    with pytest.raises(FileRejected, match=re.escape(message)):
        plan_file(blocks(data, 1 << 20), size=len(data), chunk_bytes=1 << 20)


def test_a_header_naming_a_column_twice_is_refused():
    with pytest.raises(FileRejected, match="twice"):
        header_parse(["order_reference", "user_id", "product_id", "name", "quantity", "price", "Price"])


def test_extra_columns_are_ignored_with_a_warning_and_columns_may_come_in_any_order():
    data = b"price,notes,quantity,name,product_id,user_id,order_reference\n1,hello,1,n,p,u,R\n"
    plan = plan_file(blocks(data, 1 << 20), size=len(data), chunk_bytes=1 << 20)
    assert plan.header.positions["price"] == 0 and plan.header.positions["order_reference"] == 6
    assert "'notes'" in plan.warnings[0]


def test_header_only_has_no_chunks():
    plan = plan_file(blocks(HEADER, 1 << 20), size=len(HEADER), chunk_bytes=1 << 20)
    assert plan.chunks == []


def test_a_last_record_without_line_break_belongs_to_the_last_chunk():
    data = HEADER + b"R1,u,p,n,1,2\nR2,u,p,n,1,2"
    plan = plan_file(blocks(data, 3), size=len(data), chunk_bytes=1 << 20)
    assert plan.chunks[-1].byte_end == len(data) and plan.chunks[-1].lines == 2


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [
        ("quantity", "-3", "quantity is negative"),
        ("quantity", "two", "quantity is not a whole number"),
        ("quantity", "1.5", "quantity is not a whole number"),
        ("quantity", "0", "quantity must be between 1 and 1,000,000"),
        ("quantity", "", "quantity is empty"),
        ("price", "-1.00", "price is negative"),
        ("price", "1,000.00", "price is not a number"),
        ("price", "abc", "price is not a number"),
        ("price", "1.234", "price must have at most 10 digits before the point and 2 after"),
        ("user_id", "", "user_id is empty"),
        ("name", "n" * 256, "name is longer than 255 characters"),
    ],
)
def test_cell_checks_name_the_column_and_the_reason(column, value, reason):
    values = {"order_reference": "R", "user_id": "u", "product_id": "p", "name": "n", "quantity": "1", "price": "1"}
    values[column] = value
    problem = cell_problem(values)
    assert problem.column == column and f"{problem.column} {problem.reason}".startswith(reason)


def test_formula_like_cells_pass_the_checks_as_text():
    values = {
        "order_reference": "=R",
        "user_id": "+33",
        "product_id": "@p",
        "name": "-n",
        "quantity": "1",
        "price": "1",
    }
    assert cell_problem(values) is None


def test_a_quote_that_never_closes_fails_the_file_instead_of_filling_memory(monkeypatch):
    from orders.imports import plan as csv_plan

    monkeypatch.setattr(csv_plan, "MAX_RECORD_BYTES", 1024)
    data = HEADER + b'R1,u,p,"never closed,1,1\n' + b"R2,u,p,n,1,1\n" * 200
    with pytest.raises(FileRejected, match="starting on line 2 never ends"):
        plan_file(blocks(data, 64), size=len(data), chunk_bytes=1 << 20)
