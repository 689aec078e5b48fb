"""The record reader on what the boundaries tests leave out (records the csv module cannot
read, reads larger than the reader's buffer, line breaks inside quotes, other encodings),
header names close to a column's without being one, the reference a broken row counts
against, and which path each database takes."""

import csv

import pytest
from django.db import connection

from orders.imports import bulk_generic, bulk_postgres, rules
from orders.imports import format as fmt
from orders.imports.models import Import, ImportedOrder, RejectedRow
from orders.imports.rows import iter_records
from tests.orders.imports.conftest import HEADER


def records(reads: list[bytes], *, encoding: str = "utf-8", first_line: int = 2, field_count: int = 3) -> list[tuple]:
    return [
        (r.line, r.cells, r.problem, r.reason)
        for r in iter_records(reads, encoding=encoding, first_line=first_line, field_count=field_count)
    ]


# --- Records the csv module refuses ----------------------------------------------------------------


@pytest.fixture
def field_limit():
    """A small field limit for the csv module, so that a record it refuses costs nothing to
    build (the real limit, ``MAX_FIELD_BYTES``, is 32 MiB); the old one back afterwards."""
    limit = 10
    previous = csv.field_size_limit(limit)
    yield limit
    csv.field_size_limit(previous)


def test_a_record_the_csv_module_cannot_read_is_reported_and_the_records_after_it_keep_their_lines(field_limit):
    too_long = b"e" * (field_limit + 1)
    data = b"a,b,c\nd," + too_long + b',f\ng,"h\nh",i\nj,"k\n' + too_long + b'",l\nm,n,o\n'

    refused = f"cannot be read as CSV: field larger than field limit ({field_limit})"
    assert records([data], first_line=10) == [
        (10, ["a", "b", "c"], 0, ""),
        (11, None, fmt.UNREADABLE_ROW, refused),
        (12, ["g", "h\nh", "i"], 0, ""),
        (14, None, fmt.UNREADABLE_ROW, refused),  # refused on its second line
        (16, ["m", "n", "o"], 0, ""),
    ]


# --- Reads, line breaks and encodings --------------------------------------------------------------


def test_a_read_larger_than_the_readers_buffer_loses_nothing():
    name = "x" * (3 * 1024 * 1024 + 5)
    data = f'a,"{name}",c\nd,e,f\n'.encode()

    assert records([data]) == [(2, ["a", name, "c"], 0, ""), (3, ["d", "e", "f"], 0, "")]


def test_a_quoted_crlf_is_kept_as_written_and_counts_as_one_line_break():
    data = b'a,"one\r\ntwo",c\r\nd,e,f\r\n'

    assert records([data]) == [(2, ["a", "one\r\ntwo", "c"], 0, ""), (4, ["d", "e", "f"], 0, "")]


def test_records_are_decoded_in_the_files_encoding():
    data = b"Caf\xe9,cr\xe8me,\xa37\n"

    assert records([data[:4], data[4:]], encoding="latin-1") == [(2, ["Café", "crème", "£7"], 0, "")]


def test_only_a_record_without_any_text_is_blank():
    data = b',b,c\n"",\n ,\t, \n""\n\t\n'

    assert records([data]) == [
        (2, ["", "b", "c"], 0, ""),
        (3, ["", ""], fmt.WRONG_FIELD_COUNT, "has 2 fields; the header has 3"),
        (4, [" ", "\t", " "], 0, ""),
    ]


# --- The header -------------------------------------------------------------------------------------


def test_a_header_cell_that_only_contains_a_column_name_is_another_column():
    near_misses = ["XPrice", "Unit Price", "price2", "Name (optional)", "product", "order_ref"]

    header = fmt.header_parse([*fmt.COLUMNS, *near_misses])

    assert header.positions == {column: index for index, column in enumerate(fmt.COLUMNS)}
    assert header.ignored == near_misses


# --- The order a broken row counts against -----------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "reference"),
    [(" \tX-9X\t ", "X-9X"), ("\u00a0R-5\u00a0", "\u00a0R-5\u00a0"), ("R-6\n", "R-6\n")],
    ids=["spaces-and-tabs", "no-break-spaces", "line-break"],
)
def test_a_broken_rows_reference_is_trimmed_like_every_cell_of_spaces_and_tabs_only(cell, reference):
    assert rules.structural_reference([cell, "c"], 0) == reference


@pytest.mark.django_db
def test_a_broken_row_counts_against_the_order_its_reference_cell_names_exactly(run_import):
    data = (
        HEADER
        + (
            "N-1\u00a0,c,p,n,1,1\n"  # 2: the order "N-1<no-break space>"
            "N-1\u00a0,c,q,n,1\n"  # 3: a field missing, naming the same order
            "N-2,c,p,n,1,1\n"  # 4
            "N-2\u00a0,c,q,n,1\n"  # 5: names another order than N-2
        ).encode()
    )

    import_run = run_import(data)

    assert list(
        RejectedRow.objects.filter(import_run=import_run).order_by("line").values_list("line", "column", "reason")
    ) == [
        (2, "", "not imported: line 3 of the same order was rejected"),
        (3, "", "row has 5 fields; the header has 6"),
        (5, "", "row has 5 fields; the header has 6"),
    ]
    assert list(ImportedOrder.objects.values_list("reference", flat=True)) == ["N-2"]


# --- Which path a database takes ------------------------------------------------------------------------


@pytest.mark.django_db
def test_postgresql_takes_the_set_based_path_and_other_databases_the_bulk_insert_one(run_import, monkeypatch):
    taken = []
    for name, module in (("set-based", bulk_postgres), ("bulk-insert", bulk_generic)):

        def spy(*, _real=module.chunk_ingest, _name=name, **options):
            taken.append(_name)
            return _real(**options)

        monkeypatch.setattr(module, "chunk_ingest", spy)

    import_run = run_import(HEADER + b"P-1,c,p,n,1,1\n")

    assert taken == ["set-based" if connection.vendor == "postgresql" else "bulk-insert"]
    assert import_run.status == Import.Status.SUCCEEDED
    assert list(ImportedOrder.objects.values_list("reference", flat=True)) == ["P-1"]
