"""A chunk into orders with the ORM's bulk inserts (databases other than PostgreSQL).

The chunk's records are read in Python (``orders.imports.rows``), checked with the
format's Python checks, grouped into orders, and written in batches, each order's event
made by ``orders.events.order_created_event``. Memory is bounded by the chunk's size,
not the file's.
"""

from decimal import Decimal

from console.aws import s3
from orders.events import order_created_event
from orders.imports import format as fmt
from orders.imports.models import Import, ImportChunk, ImportedOrder, RejectedRow
from orders.imports.rows import iter_records, kept_cells
from orders.imports.rules import (
    PREVIEW_ROWS,
    ChunkResult,
    OrderDefaults,
    order_defaults,
    reason_text,
    structural_reference,
)
from orders.models import ORDER_TOTAL_MAX, Order, OrderEvent, OrderItem
from orders.services import CENTS

BATCH = 1000


class _Row:
    __slots__ = ("line", "cells", "values", "reference", "problem", "detail", "amount")

    def __init__(
        self,
        line: int,
        cells: list[str],
        values: dict[str, str] | None,
        reference: str,
        problem: int = 0,
        detail: str = "",
    ):
        self.line = line
        self.cells = cells
        self.values = values
        self.reference = reference
        self.problem = problem
        self.detail = detail
        self.amount = Decimal(0)  # quantity x price, for a row whose cells pass


def _read_rows(import_run: Import, chunk: ImportChunk) -> list[_Row]:
    positions = {column: index for column, index in zip(fmt.COLUMNS, _positions(import_run), strict=True)}
    blocks = s3.read_blocks(
        bucket=import_run.bucket,
        key=import_run.key,
        version_id=import_run.version if import_run.version != import_run.etag else "",
        etag=import_run.etag,
        start=chunk.byte_start,
        end=chunk.byte_end,
    )
    rows = []
    for record in iter_records(
        blocks, encoding=import_run.encoding, first_line=chunk.first_line, field_count=len(import_run.columns)
    ):
        if record.problem:
            reference = structural_reference(record.cells, positions[fmt.REFERENCE])
            rows.append(_Row(record.line, record.cells or [], None, reference, record.problem, record.reason))
            continue
        values = {column: record.cells[index].strip(" \t") for column, index in positions.items()}
        check = fmt.cell_problem(values)
        row = _Row(record.line, record.cells, values, values[fmt.REFERENCE], check.code if check else 0)
        if not row.problem:
            row.amount = Decimal(values[fmt.PRICE]).quantize(CENTS) * int(values[fmt.QUANTITY])
            if row.amount > ORDER_TOTAL_MAX:
                row.problem, row.detail = fmt.LINE_TOTAL_TOO_LARGE, str(row.amount)
        rows.append(row)
    return rows


def _positions(import_run: Import) -> list[int]:
    header = fmt.header_parse(import_run.columns)
    return [header.positions[column] for column in fmt.COLUMNS]


def _group(rows: list[_Row]) -> dict[str, list[_Row]]:
    orders: dict[str, list[_Row]] = {}
    for row in rows:
        if row.reference:
            orders.setdefault(row.reference, []).append(row)
    return orders


def _judge_orders(orders: dict[str, list[_Row]]) -> None:
    """Mark duplicates, customer conflicts and the rows of orders that cannot be imported.
    Any rejected row (a duplicate too) keeps its whole order out: none is imported half."""
    previously = {
        ref: (import_id, line)
        for ref, import_id, line in _chunks_of(
            list(orders),
            lambda refs: ImportedOrder.objects.filter(reference__in=refs).values_list(
                "reference", "import_run_id", "line"
            ),
        )
    }
    for reference, rows in orders.items():
        seen: dict[tuple, int] = {}
        for row in rows:
            if row.problem:
                continue
            key = tuple(row.values[c] for c in fmt.COLUMNS[1:])
            if key in seen:
                row.problem, row.detail = fmt.DUPLICATE_ROW, str(seen[key])
            else:
                seen[key] = row.line
        good = [row for row in rows if not row.problem]
        customers = sorted({row.values[fmt.USER] for row in good})
        bad_line = min((row.line for row in rows if row.problem), default=None)
        total = sum((row.amount for row in good), Decimal(0))
        if reference in previously:
            import_id, line = previously[reference]
            problem, detail = fmt.ALREADY_IMPORTED, f"import {import_id}, line {line}"
        elif len(customers) > 1:
            problem, detail = fmt.CUSTOMER_CONFLICT, ", ".join(customers[:5])
        elif bad_line is not None:
            problem, detail = fmt.ORDER_HAS_REJECTED_ROW, str(bad_line)
        elif total > ORDER_TOTAL_MAX:
            problem, detail = fmt.ORDER_TOTAL_TOO_LARGE, str(total)
        else:
            continue
        for row in good:
            row.problem, row.detail = problem, detail


def _chunks_of(items: list, query):
    for start in range(0, len(items), BATCH):
        yield from query(items[start : start + BATCH])


def chunk_ingest(*, import_run: Import, chunk: ImportChunk, write: bool, preview: bool = False) -> ChunkResult:
    rows = _read_rows(import_run, chunk)
    orders = _group(rows)
    _judge_orders(orders)
    result = ChunkResult(rows=len(rows))
    rejected = [row for row in rows if row.problem]
    result.rows_rejected = len(rejected)
    result.rows_ok = result.rows - result.rows_rejected
    good_orders = {ref: [r for r in order_rows if not r.problem] for ref, order_rows in orders.items()}
    good_orders = {ref: order_rows for ref, order_rows in good_orders.items() if order_rows}
    result.orders_ok = len(good_orders)
    if preview:
        result.preview = [_preview(row) for row in rows[:PREVIEW_ROWS]]
    RejectedRow.objects.bulk_create(
        (
            RejectedRow(
                import_run=import_run, line=row.line, column=column, reason=reason, values=kept_cells(row.cells)
            )
            for row in rejected
            for column, reason in [_row_reason(row)]
        ),
        batch_size=BATCH,
    )
    if write and good_orders:
        _write_orders(import_run, good_orders, order_defaults(import_run))
    return result


def _row_reason(row: _Row) -> tuple[str, str]:
    if row.problem in (fmt.WRONG_FIELD_COUNT, fmt.UNREADABLE_ROW):
        return "", f"row {row.detail}"
    return reason_text(row.problem, row.detail)


def _preview(row: _Row) -> dict:
    entry = {"line": row.line, **({c: row.values[c] for c in fmt.COLUMNS} if row.values else {})}
    if row.problem:
        column, reason = _row_reason(row)
        entry.update(problemColumn=column, problem=reason)
    return entry


def _write_orders(import_run: Import, orders: dict[str, list[_Row]], defaults: OrderDefaults) -> None:
    references = list(orders)
    for start in range(0, len(references), BATCH):
        batch = references[start : start + BATCH]
        new_orders, items, events, refs = [], [], [], []
        for reference in batch:
            rows = orders[reference]
            lines = [
                (row, Decimal(row.values[fmt.PRICE]).quantize(CENTS), int(row.values[fmt.QUANTITY])) for row in rows
            ]
            total = sum((price * quantity for _, price, quantity in lines), Decimal("0"))
            order = Order(
                user_id=rows[0].values[fmt.USER],
                total=total,
                status=defaults.status,
                created_by_id=defaults.created_by_id,
            )
            new_orders.append(order)
            order_items = [
                OrderItem(
                    order=order,
                    product_id=row.values[fmt.PRODUCT],
                    name=row.values[fmt.NAME],
                    quantity=quantity,
                    price=price,
                )
                for row, price, quantity in lines
            ]
            items.extend(order_items)
            events.append(
                order_created_event(
                    order=order,
                    items=order_items,
                    correlation_id=defaults.correlation_id,
                    causation_id=defaults.causation_id,
                    actor_name=defaults.actor_name,
                )
            )
            refs.append(ImportedOrder(reference=reference, order=order, import_run=import_run, line=rows[0].line))
        Order.objects.bulk_create(new_orders)
        OrderItem.objects.bulk_create(items, batch_size=BATCH)
        OrderEvent.objects.bulk_create(events)
        ImportedOrder.objects.bulk_create(refs)
