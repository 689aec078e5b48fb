"""Creating the orders of one chunk of an order CSV: the one way orders, their items and
their ``OrderCreated`` events are created in bulk.

``orders_bulk_create`` runs inside the caller's transaction. PostgreSQL takes the
set-based path (``bulk_postgres``: COPY into a staging table, then INSERT ... SELECT);
other databases take batched bulk inserts (``bulk_generic``). Both apply the same rules
(``rules``) and write the same rows: the orders, their items, one ``OrderCreated`` event
each (``orders.events.order_created_event``'s, which the suite holds the SQL path to),
the external references (``ImportedOrder``) and the rejected rows.
"""

from django.db import connection

from orders.imports import bulk_generic, bulk_postgres
from orders.imports.models import Import, ImportChunk
from orders.imports.rules import ChunkResult


def orders_bulk_create(*, import_run: Import, chunk: ImportChunk, write: bool, preview: bool = False) -> ChunkResult:
    """Check the chunk's rows and create the orders of those that pass, with everything
    that goes with them (see the module docstring); the rejected rows are stored with
    their line, column and reason. With ``write`` false (dry runs, the check pass of
    strict imports) only the rejected rows are stored. ``preview``: the result carries
    the chunk's first rows as read, with their problems.

    Raises what reading the object raises (``console.aws.s3.ObjectChanged``,
    ``ObjectMissing``) and IntegrityError when another chunk imported one of the same
    order references meanwhile: the caller's transaction then writes nothing, and the
    chunk can run again.
    """
    path = bulk_postgres if connection.vendor == "postgresql" else bulk_generic
    return path.chunk_ingest(import_run=import_run, chunk=chunk, write=write, preview=preview)
