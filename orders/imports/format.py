"""The order CSV format: its columns and the checks each cell must pass.

One row per order item; rows with the same ``order_reference`` make one order, and an
order's rows are consecutive. Header names are matched without regard to case, spaces,
``_`` or ``-`` (``Order Reference``, ``orderReference`` and ``order_reference`` are the
same column), in any order. Columns the format does not know are ignored (with a warning).

Every check is written twice on one line, in Python (other databases, the dry-run
preview) and in PostgreSQL's SQL (the set-based path): the table below is the one place
they are defined, and the suite runs the same bad-input tests against both.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass

REFERENCE = "order_reference"
USER = "user_id"
PRODUCT = "product_id"
NAME = "name"
QUANTITY = "quantity"
PRICE = "price"
COLUMNS = (REFERENCE, USER, PRODUCT, NAME, QUANTITY, PRICE)

MAX_QUANTITY = 1_000_000  # the REST API's limit
# OrderItem.price is DecimalField(max_digits=12, decimal_places=2).
MAX_PRICE_INTEGER_DIGITS = 10
# A header longer than this is not an order CSV header.
MAX_HEADER_BYTES = 64 * 1024


class FileRejected(Exception):
    """The file as a whole cannot be imported (empty, not CSV, header without the columns)."""


def normalise_header_name(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.strip().lstrip("\ufeff").lower())


_KNOWN = {normalise_header_name(column): column for column in COLUMNS}


@dataclass(frozen=True)
class Header:
    """The file's header: its cells as written, and where each format column is."""

    cells: list[str]
    positions: dict[str, int]

    @property
    def ignored(self) -> list[str]:
        known = set(self.positions.values())
        return [cell for index, cell in enumerate(self.cells) if index not in known]


def header_parse(cells: list[str]) -> Header:
    """Map header cells to the format's columns. Raises FileRejected when a column is
    missing or named twice."""
    positions: dict[str, int] = {}
    for index, cell in enumerate(cells):
        column = _KNOWN.get(normalise_header_name(cell))
        if column is None:
            continue
        if column in positions:
            raise FileRejected(
                f"The header names the column {column!r} twice (columns {positions[column] + 1} and {index + 1})."
            )
        positions[column] = index
    missing = [column for column in COLUMNS if column not in positions]
    if missing:
        shown = ", ".join(repr(cell[:40]) for cell in cells[:10]) or "nothing"
        raise FileRejected(
            f"The header lacks the column(s) {', '.join(missing)}. An order CSV starts with the line "
            f"{','.join(COLUMNS)} (any order); this file's first line has {shown}."
        )
    return Header(cells=cells, positions=positions)


# --- Cell checks ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """A condition a (trimmed) cell must meet. ``python`` and ``sql`` say the same thing;
    ``sql`` is a PostgreSQL boolean expression over ``{v}``, the trimmed cell."""

    code: int
    column: str
    reason: str
    python: Callable[[str], bool]
    sql: str
    # False for checks only there to name a problem more precisely (a negative number
    # also fails "whole number"): the set-based path tests every row against the others
    # first, and finds the precise reason only for rows that fail.
    decisive: bool = True


_WHOLE = re.compile(r"[0-9]+\Z")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?\Z")
_MONEY = re.compile(rf"[0-9]{{1,{MAX_PRICE_INTEGER_DIGITS}}}(\.[0-9]{{1,2}})?\Z")
_NEGATIVE = re.compile(r"-\s*[0-9]")

CHECKS: tuple[Check, ...] = (
    Check(1, REFERENCE, "is empty", lambda v: v != "", "{v} <> ''"),
    Check(2, REFERENCE, "is longer than 128 characters", lambda v: len(v) <= 128, "length({v}) <= 128"),
    Check(3, USER, "is empty", lambda v: v != "", "{v} <> ''"),
    Check(4, USER, "is longer than 128 characters", lambda v: len(v) <= 128, "length({v}) <= 128"),
    Check(5, PRODUCT, "is empty", lambda v: v != "", "{v} <> ''"),
    Check(6, PRODUCT, "is longer than 128 characters", lambda v: len(v) <= 128, "length({v}) <= 128"),
    Check(7, NAME, "is empty", lambda v: v != "", "{v} <> ''"),
    Check(8, NAME, "is longer than 255 characters", lambda v: len(v) <= 255, "length({v}) <= 255"),
    Check(9, QUANTITY, "is empty", lambda v: v != "", "{v} <> ''"),
    Check(10, QUANTITY, "is negative", lambda v: not _NEGATIVE.match(v), "{v} !~ '^-\\s*[0-9]'", decisive=False),
    Check(11, QUANTITY, "is not a whole number", lambda v: bool(_WHOLE.match(v)), "{v} ~ '^[0-9]+$'", decisive=False),
    # Guarded by its own CASE: SQL does not promise to test conditions in the order written.
    Check(
        12,
        QUANTITY,
        f"must be between 1 and {MAX_QUANTITY:,}",
        lambda v: bool(_WHOLE.match(v)) and 1 <= int(v) <= MAX_QUANTITY,
        f"CASE WHEN {{v}} ~ '^[0-9]{{{{1,8}}}}$' THEN {{v}}::int BETWEEN 1 AND {MAX_QUANTITY} ELSE false END",
    ),
    Check(13, PRICE, "is empty", lambda v: v != "", "{v} <> ''"),
    Check(14, PRICE, "is negative", lambda v: not _NEGATIVE.match(v), "{v} !~ '^-\\s*[0-9]'", decisive=False),
    Check(
        15,
        PRICE,
        "is not a number (write it like 1234.50: digits, a dot, no thousands separator)",
        lambda v: bool(_DECIMAL.match(v)),
        "{v} ~ '^[0-9]+(\\.[0-9]+)?$'",
        decisive=False,
    ),
    Check(
        16,
        PRICE,
        f"must have at most {MAX_PRICE_INTEGER_DIGITS} digits before the point and 2 after",
        lambda v: bool(_MONEY.match(v)),
        f"{{v}} ~ '^[0-9]{{{{1,{MAX_PRICE_INTEGER_DIGITS}}}}}(\\.[0-9]{{{{1,2}}}})?$'",
    ),
)
CHECKS_BY_CODE = {check.code: check for check in CHECKS}

# Problems found across rows rather than in one cell (codes above the cell checks).
WRONG_FIELD_COUNT = 100
DUPLICATE_ROW = 101
CUSTOMER_CONFLICT = 102
ORDER_HAS_REJECTED_ROW = 103
ALREADY_IMPORTED = 104
UNREADABLE_ROW = 105
LINE_TOTAL_TOO_LARGE = 106
ORDER_TOTAL_TOO_LARGE = 107


def cell_problem(values: dict[str, str]) -> Check | None:
    """The first check the row's cells fail, or None. ``values`` are trimmed cells."""
    for check in CHECKS:
        if not check.python(values[check.column]):
            return check
    return None


def sql_all_pass(cell_sql: dict[str, str]) -> str:
    """A SQL condition true when a row passes every check (the decisive ones suffice)."""
    return " AND ".join(f"({check.sql.format(v=cell_sql[check.column])})" for check in CHECKS if check.decisive)


def sql_problem_code(cell_sql: dict[str, str]) -> str:
    """A SQL CASE expression giving the first failing check's code (NULL if none).
    ``cell_sql`` maps each column to the SQL of its trimmed cell."""
    whens = " ".join(f"WHEN NOT ({check.sql.format(v=cell_sql[check.column])}) THEN {check.code}" for check in CHECKS)
    return f"CASE {whens} END"
