"""A chunk into orders on PostgreSQL, set-based.

1. The chunk's bytes go from S3 straight into COPY (psycopg 3) into a temporary staging
   table: PostgreSQL parses the CSV; Python only moves blocks. A chunk COPY cannot take
   as it is (a malformed record, a quoted line break, mixed line endings) is re-read by
   Python's csv module instead (``orders.imports.rows``), which finds the exact line of
   every record, and its well-formed records are copied in.
2. One UPDATE marks every row failing a cell check (the same checks as the Python path,
   ``orders.imports.format.CHECKS``), one more the rows whose line total is too large,
   then duplicates, then the orders that cannot be imported (the rules:
   ``orders.imports.rules``).
3. INSERT ... SELECT writes orders, external references, ``OrderCreated`` events (data
   built by ``jsonb_build_object`` in the shape of ``orders.events.order_created_data``,
   which the suite holds this SQL to), items and rejected rows, a handful of statements
   per chunk whatever its size.

Column lists come from the models' metadata; columns we do not set get the field's
default, so a column added to the orders tables later does not break the import.
"""

import logging
import time
from typing import Any

import psycopg
from django.db import connection, models

from console.aws import s3
from orders.events import ORDER_CREATED
from orders.imports import format as fmt
from orders.imports.models import Import, ImportChunk, ImportedOrder, RejectedRow
from orders.imports.rows import KEPT_CELL_CHARS, iter_records, kept_cells
from orders.imports.rules import PREVIEW_ROWS, ChunkResult, order_defaults, reason_text, structural_reference
from orders.models import ORDER_TOTAL_MAX, Order, OrderEvent, OrderItem

logger = logging.getLogger(__name__)

STAGE = "orders_csv_stage"
ORDERS = "orders_csv_stage_orders"
DUPLICATES = "orders_csv_stage_duplicates"
PG_ENCODINGS = {"utf-8": "UTF8", "latin-1": "LATIN1"}

# Ids of imported orders and events: random UUIDs whose first 48 bits are the time in
# milliseconds (the UUIDv7 layout). Rows inserted together then sit together in the
# primary-key and foreign-key indexes, instead of touching a random page per row as
# uuid4 ids do; a million-row import spends much of its time in those indexes.
TIME_ORDERED_UUID = (
    "encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) placing "
    "substring(int8send((extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3) FROM 1 FOR 6), "
    "52, 1), 53, 1), 'hex')::uuid"
)

# COPY refuses a chunk for these; Python then reads it record by record.
_COPY_REFUSALS = (
    psycopg.errors.BadCopyFileFormat,
    psycopg.errors.CharacterNotInRepertoire,
    psycopg.errors.UntranslatableCharacter,
    psycopg.errors.InvalidTextRepresentation,
    psycopg.errors.ProgramLimitExceeded,
)


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _column(model: type[models.Model], name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _insert(
    model: type[models.Model], given: dict[str, str | tuple[str, list]], source_sql: str, source_params=()
) -> tuple[str, list[Any]]:
    """``INSERT INTO model (...) SELECT ... <source_sql>``. ``given`` maps field names to a
    SQL expression, or to (expression, parameters). Other concrete fields take their
    default as a parameter, except auto primary keys and fields with a database default."""
    columns, expressions, params = [], [], []
    for model_field in model._meta.concrete_fields:
        value = given.get(model_field.name, given.get(model_field.attname))
        if value is not None:
            expression, value_params = value if isinstance(value, tuple) else (value, [])
            expressions.append(expression)
            params.extend(value_params)
        elif isinstance(model_field, models.AutoField | models.BigAutoField | models.SmallAutoField):
            continue
        elif getattr(model_field, "db_default", models.NOT_PROVIDED) is not models.NOT_PROVIDED:
            continue
        else:
            expressions.append("%s")
            params.append(model_field.get_db_prep_save(model_field.get_default(), connection))
        columns.append(connection.ops.quote_name(model_field.column))
    sql = f"INSERT INTO {_table(model)} ({', '.join(columns)}) SELECT {', '.join(expressions)} {source_sql}"
    return sql, params + list(source_params)


class _Timer:
    def __init__(self, chunk: ImportChunk):
        self.chunk = chunk
        self.last = time.perf_counter()
        self.steps: list[str] = []

    def __call__(self, step: str) -> None:
        now = time.perf_counter()
        self.steps.append(f"{step}={now - self.last:.2f}s")
        self.last = now

    def log(self) -> None:
        logger.info("chunk %s of import %s: %s", self.chunk.index, self.chunk.import_run_id, " ".join(self.steps))


def _session_tuning(cursor) -> None:
    # Staging tables live in session-local buffers (8 MB by default: a chunk would spill
    # to disk) and the aggregations want memory; JIT compilation costs more than it saves
    # for statements this simple. temp_buffers can only change before a session's first
    # temporary table, so a reused connection keeps what it had.
    cursor.execute("SET LOCAL work_mem = '128MB'")
    cursor.execute("SET LOCAL jit = off")
    try:
        cursor.execute("SAVEPOINT import_tuning")
        cursor.execute("SET temp_buffers = '256MB'")
        cursor.execute("RELEASE SAVEPOINT import_tuning")
    except psycopg.Error:
        cursor.execute("ROLLBACK TO SAVEPOINT import_tuning")


def chunk_ingest(*, import_run: Import, chunk: ImportChunk, write: bool, preview: bool = False) -> ChunkResult:
    timer = _Timer(chunk)
    field_count = len(import_run.columns)
    cells = [f"c{index}" for index in range(field_count)]
    header = fmt.header_parse(import_run.columns)
    # The format's cells, trimmed once as rows arrive (generated columns), not in every statement.
    cell = {column: f"s.f_{column}" for column in fmt.COLUMNS}
    trimmed = ", ".join(
        f"f_{column} text GENERATED ALWAYS AS (btrim(c{header.positions[column]}, E' \\t')) STORED"
        for column in fmt.COLUMNS
    )
    result = ChunkResult()
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor, for COPY
        _session_tuning(cursor)
        cursor.execute(f"DROP TABLE IF EXISTS {STAGE}, {ORDERS}, {DUPLICATES}")
        cursor.execute(
            f"CREATE TEMPORARY TABLE {STAGE} (line bigint GENERATED BY DEFAULT AS IDENTITY "
            f"(START WITH {int(chunk.first_line)}), {', '.join(f'{c} text' for c in cells)}, {trimmed}, "
            "problem smallint, detail text) ON COMMIT DROP"
        )
        structural = _stage(raw, import_run, chunk, cells, header)  # records rejected while reading
        timer("copy")
        cursor.execute(f"ANALYZE {STAGE}")

        # Cell checks: one pass, the first failing check's code per row.
        cursor.execute(
            f"UPDATE {STAGE} s SET problem = {fmt.sql_problem_code(cell)} WHERE NOT ({fmt.sql_all_pass(cell)})"
        )
        # Line totals Order.total could not hold. Only rows that passed the checks can be
        # cast: the CASE guards the casts (SQL does not promise to test conditions in order).
        defaults = order_defaults(import_run)
        quantity, price = f"({cell[fmt.QUANTITY]})::integer", f"({cell[fmt.PRICE]})::numeric(12,2)"
        cursor.execute(
            f"UPDATE {STAGE} s SET problem = {fmt.LINE_TOTAL_TOO_LARGE}, detail = ({quantity} * {price})::text "
            f"WHERE CASE WHEN s.problem IS NULL THEN {quantity} * {price} > %s ELSE false END",
            [ORDER_TOTAL_MAX],
        )
        timer("checks")

        # Exact repeats of a row of the same order: the groups first (usually none), then
        # their rows, by joining on the same columns.
        key = ", ".join(cell[column] for column in fmt.COLUMNS)
        cursor.execute(
            f"CREATE TEMPORARY TABLE {DUPLICATES} ON COMMIT DROP AS "
            f"SELECT {', '.join(f'{cell[c]} AS {c}' for c in fmt.COLUMNS)}, min(line) AS first "
            f"FROM {STAGE} s WHERE problem IS NULL GROUP BY {key} HAVING count(*) > 1"
        )
        cursor.execute(
            f"UPDATE {STAGE} s SET problem = {fmt.DUPLICATE_ROW}, detail = d.first::text FROM {DUPLICATES} d "
            f"WHERE {' AND '.join(f'{cell[c]} = d.{c}' for c in fmt.COLUMNS)} "
            "AND s.problem IS NULL AND s.line <> d.first"
        )
        timer("duplicates")

        # One row per order: what its event needs, and whether it can be imported.
        good = "s.problem IS NULL"
        cursor.execute(
            f"CREATE TEMPORARY TABLE {ORDERS} ON COMMIT DROP AS "
            f"SELECT {TIME_ORDERED_UUID} AS id, {cell[fmt.REFERENCE]} AS reference, min(s.line) AS first_line, "
            f"min({cell[fmt.USER]}) FILTER (WHERE {good}) AS user_id, "
            f"max({cell[fmt.USER]}) FILTER (WHERE {good}) AS user_max, "
            # Any rejected row keeps its order out, a duplicate too: no order is imported half.
            "min(s.line) FILTER (WHERE s.problem IS NOT NULL) AS bad_line, "
            f"count(*) FILTER (WHERE {good}) AS good_rows, "
            f"sum({quantity} * {price}) FILTER (WHERE {good}) AS total, "
            # Items in file order: the staging table is read in insertion order (a temporary
            # table is never scanned in parallel), which is line order.
            # jsonb from the start: the event's data takes it as it is, with no text to re-parse.
            f"jsonb_agg(jsonb_build_object('productId', {cell[fmt.PRODUCT]}, 'name', {cell[fmt.NAME]}, "
            f"'quantity', {quantity}, 'price', ({price})::text)) FILTER (WHERE {good}) AS items, "
            "NULL::smallint AS problem, NULL::text AS detail "
            f"FROM {STAGE} s WHERE {cell[fmt.REFERENCE]} <> '' GROUP BY 2"
        )
        cursor.execute(f"ANALYZE {ORDERS}")
        timer("orders")
        cursor.execute(
            f"UPDATE {ORDERS} o SET problem = {fmt.ALREADY_IMPORTED}, "
            "detail = 'import ' || m.import_run_id::text || ', line ' || m.line::text "
            f"FROM {_table(ImportedOrder)} m WHERE m.{_column(ImportedOrder, 'reference')} = o.reference"
        )
        cursor.execute(
            f"UPDATE {ORDERS} SET problem = {fmt.CUSTOMER_CONFLICT}, detail = user_id || ', ' || user_max "
            "WHERE problem IS NULL AND user_id <> user_max"
        )
        if structural.references:
            # Records that could not be split into fields were never staged; the order they
            # name is not imported either.
            references, lines = zip(*structural.references.items(), strict=True)
            cursor.execute(
                f"UPDATE {ORDERS} o SET bad_line = LEAST(o.bad_line, b.line) "
                "FROM unnest(%s::text[], %s::bigint[]) AS b (reference, line) WHERE o.reference = b.reference",
                [list(references), list(lines)],
            )
        cursor.execute(
            f"UPDATE {ORDERS} SET problem = {fmt.ORDER_HAS_REJECTED_ROW}, detail = bad_line::text "
            "WHERE problem IS NULL AND bad_line IS NOT NULL"
        )
        cursor.execute(
            f"UPDATE {ORDERS} SET problem = {fmt.ORDER_TOTAL_TOO_LARGE}, detail = total::text "
            "WHERE problem IS NULL AND total > %s",
            [ORDER_TOTAL_MAX],
        )
        cursor.execute(
            f"UPDATE {STAGE} s SET problem = o.problem, detail = o.detail FROM {ORDERS} o "
            f"WHERE o.problem IS NOT NULL AND s.problem IS NULL AND {cell[fmt.REFERENCE]} = o.reference"
        )
        cursor.execute(f"DELETE FROM {ORDERS} WHERE problem IS NOT NULL OR good_rows = 0")
        timer("judge")

        cursor.execute(f"SELECT count(*), count(*) FILTER (WHERE problem IS NOT NULL) FROM {STAGE}; ")
        staged, staged_rejected = cursor.fetchone()
        cursor.execute(f"SELECT count(*) FROM {ORDERS}")
        (result.orders_ok,) = cursor.fetchone()
        result.rows = staged + structural.count
        result.rows_rejected = staged_rejected + structural.count
        result.rows_ok = result.rows - result.rows_rejected
        if preview:
            result.preview = _preview(cursor, cells, header, structural.first)

        _reject(cursor, import_run, cells)
        timer("rejected")
        if write and result.orders_ok:
            _write(cursor, import_run, defaults, cell, quantity, price, timer)
            # Check the foreign keys now rather than at commit: the caller then updates the
            # import's counters, a row every chunk updates, and holds its lock until commit.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            timer("foreign keys")
    timer.log()
    return result


def _stage(raw, import_run: Import, chunk: ImportChunk, cells: list[str], header: fmt.Header) -> "_StructuralRejects":
    """Fill the staging table with the chunk; returns records rejected while reading."""
    encoding = PG_ENCODINGS[import_run.encoding]
    columns = ", ".join(cells)

    def blocks():
        return s3.read_blocks(
            bucket=import_run.bucket,
            key=import_run.key,
            version_id=import_run.version if import_run.version != import_run.etag else "",
            etag=import_run.etag,
            start=chunk.byte_start,
            end=chunk.byte_end,
        )

    if not chunk.needs_python_reader:
        raw.execute("SAVEPOINT import_copy")
        try:
            with raw.copy(
                f"COPY {STAGE} ({columns}) FROM STDIN WITH (FORMAT csv, ENCODING '{encoding}', "
                f"FORCE_NOT_NULL ({columns}))"
            ) as copy:
                for block in blocks():
                    copy.write(block)
            copied = raw.rowcount
        except _COPY_REFUSALS as exc:
            logger.info("chunk %s: COPY refused it (%s); reading it record by record", chunk.index, exc)
            copied = -1
        # Every line a record: otherwise (blank lines, an end-of-data marker) read it again.
        if copied == chunk.lines:
            raw.execute("RELEASE SAVEPOINT import_copy")
            return _StructuralRejects(import_run, header.positions[fmt.REFERENCE])
        raw.execute("ROLLBACK TO SAVEPOINT import_copy")

    structural = _StructuralRejects(import_run, header.positions[fmt.REFERENCE])
    records = iter_records(blocks(), encoding=import_run.encoding, first_line=chunk.first_line, field_count=len(cells))
    finished = False
    while not finished:
        # No other statement can run while a COPY is open: rejected records are written
        # between COPY statements, a batch at a time.
        finished = True
        with raw.copy(f"COPY {STAGE} (line, {columns}) FROM STDIN") as copy:
            for record in records:
                if record.problem:
                    structural.add(record)
                    if structural.full:
                        finished = False
                        break
                else:
                    copy.write_row([record.line, *record.cells])
        structural.flush()
    return structural


class _StructuralRejects:
    """Records rejected while reading, written in batches (a file of nothing but bad
    records must not pile up in memory); the first few are kept for the preview, and the
    orders they name (``references``: reference -> first line) are kept out."""

    BATCH = 1000

    def __init__(self, import_run: Import, reference_position: int):
        self.import_run = import_run
        self.reference_position = reference_position
        self.count = 0
        self.first: list = []
        self.references: dict[str, int] = {}
        self._pending: list[RejectedRow] = []

    def add(self, record) -> None:
        self.count += 1
        reference = structural_reference(record.cells, self.reference_position)
        if reference:
            self.references.setdefault(reference, record.line)
        if len(self.first) < PREVIEW_ROWS:
            self.first.append(record)
        self._pending.append(
            RejectedRow(
                import_run=self.import_run,
                line=record.line,
                column="",
                reason=f"row {record.reason}",
                values=kept_cells(record.cells or []),
            )
        )

    @property
    def full(self) -> bool:
        return len(self._pending) >= self.BATCH

    def flush(self) -> None:
        if self._pending:
            RejectedRow.objects.bulk_create(self._pending)
            self._pending = []


def _preview(cursor, cells: list[str], header: fmt.Header, structural: list) -> list[dict]:
    cursor.execute(f"SELECT line, {', '.join(cells)}, problem, detail FROM {STAGE} ORDER BY line LIMIT {PREVIEW_ROWS}")
    rows = []
    for line, *values, problem, detail in cursor.fetchall():
        entry = {"line": line, **{c: values[header.positions[c]].strip(" \t") for c in fmt.COLUMNS}}
        if problem:
            entry["problemColumn"], entry["problem"] = reason_text(problem, detail or "")
        rows.append(entry)
    for record in structural:
        rows.append({"line": record.line, "problemColumn": "", "problem": f"row {record.reason}"})
    return sorted(rows, key=lambda entry: entry["line"])[:PREVIEW_ROWS]


def _reject(cursor, import_run: Import, cells: list[str]) -> None:
    codes = [check.code for check in fmt.CHECKS] + [
        fmt.DUPLICATE_ROW,
        fmt.CUSTOMER_CONFLICT,
        fmt.ORDER_HAS_REJECTED_ROW,
        fmt.ALREADY_IMPORTED,
        fmt.LINE_TOTAL_TOO_LARGE,
        fmt.ORDER_TOTAL_TOO_LARGE,
    ]
    reason_params: list[Any] = []
    for code in codes:
        reason_params += [code, *reason_text(code, "{detail}")]
    kept = ", ".join(f"left(s.{c}, {KEPT_CELL_CHARS})" for c in cells)
    sql, params = _insert(
        RejectedRow,
        {
            "import_run": ("%s", [import_run.pk]),
            "line": "s.line",
            "column": "r.column_name",
            "reason": "replace(r.reason, '{detail}', coalesce(s.detail, ''))",
            "values": f"jsonb_build_array({kept})",
        },
        f"FROM {STAGE} s JOIN (VALUES {', '.join(['(%s::smallint, %s, %s)'] * len(codes))}) "
        "AS r (code, column_name, reason) ON r.code = s.problem WHERE s.problem IS NOT NULL",
        reason_params,
    )
    cursor.execute(sql, params)


def _write(cursor, import_run: Import, defaults, cell: dict[str, str], quantity: str, price: str, timer) -> None:
    # The external references first: their unique key is what keeps an order from being
    # imported twice (two chunks racing for one reference: the second fails and retries).
    # Foreign keys are checked at commit, so the orders may follow.
    cursor.execute(
        *_insert(
            ImportedOrder,
            {
                "reference": "o.reference",
                "order": "o.id",
                "import_run": ("%s", [import_run.pk]),
                "line": "o.first_line",
            },
            f"FROM {ORDERS} o",
        )
    )
    timer("references")
    cursor.execute(
        *_insert(
            Order,
            {
                "id": "o.id",
                "user_id": "o.user_id",
                "total": "o.total",
                "status": ("%s", [defaults.status]),
                "status_reason": "''",
                "version": "1",
                "created_at": "now()",
                "updated_at": "now()",
                "created_by": ("%s", [defaults.created_by_id]),
            },
            f"FROM {ORDERS} o",
        )
    )
    timer("orders")
    cursor.execute(
        *_insert(
            OrderEvent,
            {
                "id": TIME_ORDERED_UUID,
                "order": "o.id",
                "version": "1",
                "event_type": ("%s", [ORDER_CREATED]),
                "data": (
                    "jsonb_build_object('status', %s::text, 'userId', o.user_id, 'total', o.total::text, "
                    "'items', o.items)",
                    [defaults.status],
                ),
                "correlation_id": ("%s", [defaults.correlation_id]),
                "causation_id": ("%s", [defaults.causation_id]),
                "actor_name": ("%s", [defaults.actor_name]),
                "created_at": "now()",
                "published_at": "NULL",
            },
            f"FROM {ORDERS} o",
        )
    )
    timer("events")
    cursor.execute(
        *_insert(
            OrderItem,
            {
                "order": "o.id",
                "product_id": cell[fmt.PRODUCT],
                "name": cell[fmt.NAME],
                "quantity": quantity,
                "price": price,
            },
            f"FROM {STAGE} s JOIN {ORDERS} o ON o.reference = {cell[fmt.REFERENCE]} "
            "WHERE s.problem IS NULL ORDER BY s.line",
        )
    )
    timer("items")
