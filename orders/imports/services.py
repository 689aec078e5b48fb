"""Order CSV imports: their state changes.

An import runs as jobs: ``import_plan`` reads the object once and splits it into chunks
(fan-out, one job per chunk); each ``import_chunk_run`` writes its chunk in one
transaction; the chunk that completes the last one closes the import in that same
transaction (fan-in), so an import is closed exactly once. Strict imports run the chunks
twice: a check pass that writes nothing but the rejected rows, then, if none was
rejected, the ingest pass. Every job is safe to run again: a finished chunk is skipped,
an unfinished one left nothing behind.

Jobs are queued by their task's name after the commit (``orders.imports.tasks`` defines
them and calls these functions; nothing here imports it). While an import runs in this
process (``import_run_inline``: tests, benchmarks, ``manage.py import_csv --inline``),
nothing is queued: the runner drives the chunks itself.

The file arrives through S3, whose events the media app receives: it hands an object
under ``CSV_PREFIX`` to ``csv_object_received``, and records presigned uploads of order
CSVs with ``csv_upload_record``.
"""

import contextlib
import contextvars
import logging
import uuid
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from console.aws import resources, s3
from console.models import AuditEntry
from console.platform.audit import audit_record
from console.platform.context import current_request_id, reset_request_id, set_request_id
from console.runtime.jobs import enqueue_on_commit
from orders.imports.bulk import orders_bulk_create
from orders.imports.format import FileRejected
from orders.imports.models import CsvUpload, Import, ImportChunk, ImportedOrder
from orders.imports.options import ImportNotResumable, ImportOptionsConflict, import_options_check
from orders.imports.plan import plan_file
from orders.models import Order
from orders.signals import orders_submitted

logger = logging.getLogger(__name__)

# Where order CSVs go in the files bucket: objects under CSV_PREFIX are imported when S3
# reports them; dry runs are stored apart, where S3 events start nothing.
CSV_PREFIX = "incoming/orders/"
DRY_RUN_PREFIX = "uploads/dry-runs/"

# The jobs (orders.imports.tasks), by name.
PLAN_JOB = "orders.import_plan"
CHUNK_JOB = "orders.import_chunk"
WORKFLOWS_JOB = "orders.import_workflows"
# What queues a job again that could not be queued (zappa_settings.json, every 5 minutes).
SWEEP = "the stalled-import sweep (orders.imports.handlers.resume_stalled_imports) queues it again"

# Set while an import runs in this process: the runner drives the chunks, nothing is queued.
_inline = contextvars.ContextVar("orders_inline_import", default=False)


@contextlib.contextmanager
def inline_jobs():
    """Queue no import job inside this block (``import_run_inline``; tests that run an
    import's steps themselves)."""
    token = _inline.set(True)
    try:
        yield
    finally:
        _inline.reset(token)


def _queue(name: str, *args: Any, countdown: float | None = None) -> None:
    if not _inline.get():
        enqueue_on_commit(name, *args, countdown=countdown, sweep=SWEEP)


# --- Files arriving: what the media app hands on ---------------------------------------------------


def csv_object_received(*, bucket: str, key: str) -> Import:
    """An order CSV arrived under ``CSV_PREFIX`` (an S3 event; ``key`` decoded): start its
    import, with the options of the upload that brought it (``csv_upload_record``), else
    the defaults. The object is read from S3 itself (size, ETag, version), not trusted from
    the event. Idempotent per object version: the same event again returns the same
    import. Raises ``console.aws.s3.ObjectMissing`` for an object deleted meanwhile."""
    info = s3.head(bucket=bucket, key=key)
    return csv_import_object(info=info, source=AuditEntry.Source.SYSTEM)


def csv_upload_record(
    *,
    key: str,
    uploaded_by,
    content_type: str,
    declared_size: int,
    mode: str | None,
    strict: bool | None,
    original_name: str = "",
    source: str = AuditEntry.Source.API,
) -> CsvUpload:
    """Record an order CSV someone is about to upload to ``key`` (a presigned POST, or the
    console's upload), with the options they chose (None: no choice), the file's own name
    and the request asking (its id, read here, and ``source``): the S3 event that reports
    the object then creates the import as theirs, with these, whichever comes first. Call
    inside the transaction that audits the upload request; ``import_options_check`` first
    (history mode needs its permission)."""
    return CsvUpload.objects.create(
        key=key,
        uploaded_by=uploaded_by,
        content_type=content_type,
        declared_size=declared_size,
        mode=mode or "",
        strict=strict,
        original_name=PurePosixPath(original_name.replace("\\", "/")).name[:255],
        request_id=current_request_id()[:64],
        source=source,
    )


@contextlib.contextmanager
def _on_behalf_of_upload(upload: CsvUpload | None, *, user):
    """Inside the block, an import the S3 event creates is the upload request's work: the
    audit entries and the import's correlation id carry that request's id (the event's
    own invocation has none worth keeping). A request acting itself keeps its own."""
    if user is not None or upload is None or not upload.request_id:
        yield
        return
    token = set_request_id(upload.request_id)
    try:
        yield
    finally:
        reset_request_id(token)


# --- Imports: start ------------------------------------------------------------------------------


def csv_import_object(*, info: s3.ObjectInfo, **options) -> Import:
    """Start importing an object (idempotent per bucket, key and version: the same object
    again returns the import it already has, and creates nothing). ``options`` are
    ``csv_import_get_or_create``'s, which says what is refused."""
    return csv_import_get_or_create(info=info, **options)[0]


def csv_import_get_or_create(
    *,
    info: s3.ObjectInfo,
    actor=None,
    source: str = AuditEntry.Source.SYSTEM,
    strict: bool | None = None,
    dry_run: bool = False,
    mode: str | None = None,
    original_name: str = "",
    chunk_bytes: int | None = None,
) -> tuple[Import, bool]:
    """The object's import, and whether this call created it. One import per object
    version (dry runs apart), whichever comes first: the S3 event or a request.

    Options (``mode``, ``strict``; None: no preference) come from this request, else from
    the upload that brought the object (``CsvUpload``), else the defaults
    (``CSV_IMPORT_MODE``, not strict). Once named by a request or an upload they are fixed;
    the defaults the S3 event took may still be changed by a request naming others while the
    import waits to start (audited as ``import.options``). Raises ImportForbidden (history
    mode without ``orders.import_history``) and ImportOptionsConflict (other options than
    the import's, which can no longer change).
    """
    import_options_check(mode=mode, actor=actor)
    user = actor if getattr(actor, "is_authenticated", False) else None
    if not dry_run:
        existing = _existing_import(info)
        if existing is not None:
            settled = _import_options_settle(import_id=existing.pk, mode=mode, strict=strict, actor=user, source=source)
            return settled, False
    upload = CsvUpload.objects.select_related("uploaded_by").filter(key=info.key).first()
    chosen_by = user  # who chose the mode (None: the request named none)
    if upload is not None:
        if mode is None and upload.mode:
            mode, chosen_by = upload.mode, upload.uploaded_by
        if strict is None and upload.strict is not None:
            strict = upload.strict
    chosen_mode, chosen_strict = mode, strict
    options_fixed = chosen_mode is not None or chosen_strict is not None
    mode = chosen_mode or settings.CSV_IMPORT_MODE
    if mode not in Import.Mode.values:
        raise ValueError(f"unknown import mode {mode!r} (CSV_IMPORT_MODE)")
    creator = user or (upload.uploaded_by if upload is not None else None)
    if user is None and upload is not None:
        # The S3 event reports an upload someone asked for: the import is that request's
        # action (who, from where), not the system's.
        actor = upload.uploaded_by
        source = upload.source or source
    original_name = original_name or (upload.original_name if upload is not None else "")
    try:
        with transaction.atomic(), _on_behalf_of_upload(upload, user=user):
            import_run = Import.objects.create(
                bucket=info.bucket,
                key=info.key,
                version=info.version,
                etag=info.etag,
                size=info.size,
                original_name=(original_name or PurePosixPath(info.key).name)[:255],
                strict=bool(strict),
                dry_run=dry_run,
                mode=mode,
                options_fixed=options_fixed,
                chunk_bytes=chunk_bytes or _default_chunk_bytes(),
                correlation_id=current_request_id()[:64],
                created_by=creator,
            )
            audit_record(
                action="import.dry_run" if dry_run else "import.start",
                obj=import_run,
                actor=actor,
                source=source,
                after={
                    "key": info.key,
                    "version": info.version,
                    "strict": bool(strict),
                    "mode": mode,
                    "size": info.size,
                    "createdBy": creator.get_username() if creator else "",
                },
            )
            if mode == Import.Mode.HISTORY and not dry_run:
                _audit_history(import_run, actor=chosen_by, source=source, by_setting=chosen_mode is None)
            _queue(PLAN_JOB, str(import_run.pk))
    except IntegrityError:
        # The same object, started concurrently (the S3 event and a request, an event
        # redelivered, a second click): one import, whose options this request may not change.
        existing = _existing_import(info)
        settled = _import_options_settle(
            import_id=existing.pk, mode=chosen_mode, strict=chosen_strict, actor=user, source=source
        )
        return settled, False
    return import_run, True


def _existing_import(info: s3.ObjectInfo) -> Import | None:
    return Import.objects.filter(bucket=info.bucket, key=info.key, version=info.version, dry_run=False).first()


def _import_options_settle(*, import_id, mode: str | None, strict: bool | None, actor, source: str) -> Import:
    """The existing import, with the options the request names if they may still change."""
    with transaction.atomic():
        import_run = Import.objects.select_for_update().get(pk=import_id)
        changes: dict = {}
        if mode is not None and mode != import_run.mode:
            changes["mode"] = mode
        if strict is not None and strict != import_run.strict:
            changes["strict"] = strict
        if not changes:
            return import_run
        field = "mode" if "mode" in changes else "strict"
        current = f"mode {import_run.mode!r}{', strict' if import_run.strict else ''}"
        if import_run.options_fixed:
            raise ImportOptionsConflict(
                field,
                f"This object is imported already (import {import_run.pk}, {import_run.get_status_display()}) in "
                f"{current}, chosen when the import was created: it cannot change.",
            )
        # import_plan moves PENDING to RUNNING under this row's lock and reads the options
        # after: an import still waiting here has read nothing yet.
        if import_run.status != Import.Status.PENDING or import_run.chunks_total:
            raise ImportOptionsConflict(
                field,
                f"This object is imported already (import {import_run.pk}, {import_run.get_status_display()}) in "
                f"{current}: an import that has started keeps its options.",
            )
        before = {name: getattr(import_run, name) for name in changes}
        for name, value in changes.items():
            setattr(import_run, name, value)
        import_run.options_fixed = True
        import_run.save(update_fields=[*changes, "options_fixed", "updated_at"])
        audit_record(action="import.options", obj=import_run, actor=actor, source=source, before=before, after=changes)
        if changes.get("mode") == Import.Mode.HISTORY:
            _audit_history(import_run, actor=actor, source=source, by_setting=False)
    return import_run


def _audit_history(import_run: Import, *, actor, source: str, by_setting: bool) -> None:
    """History mode is an admin's decision: each use is on the record, with who made it
    (``by_setting``: the deployment's CSV_IMPORT_MODE)."""
    audit_record(
        action="import.history",
        obj=import_run,
        actor=actor,
        source=source,
        reason=(
            f"orders imported as decided history: status {settings.CSV_IMPORT_HISTORY_STATUS}, "
            "no workflow, no approval" + (", by the CSV_IMPORT_MODE setting" if by_setting else "")
        ),
        after={"mode": import_run.mode, "status": settings.CSV_IMPORT_HISTORY_STATUS},
    )


def _default_chunk_bytes() -> int:
    if connection.vendor == "postgresql":
        return settings.CSV_IMPORT_CHUNK_BYTES
    # The bulk-insert path holds a chunk's rows in memory while it groups them.
    return min(settings.CSV_IMPORT_CHUNK_BYTES, 4 * 1024 * 1024)


# Parts of a console upload's multipart upload to S3 (S3's minimum part is 5 MiB).
UPLOAD_PART_BYTES = 8 * 1024 * 1024


def import_upload(
    *, uploaded_file, actor, strict: bool = False, dry_run: bool = False, mode: str | None = None
) -> Import:
    """A console upload of an order CSV: stored in the files bucket, then imported (or
    dry-run: stored apart, where S3 events do not start imports).

    The upload and its options are recorded before the object is stored: the S3 event
    reporting it may come first, and then creates the import with them. Raises
    ImportForbidden (history mode without the permission) before storing anything."""
    import_options_check(mode=mode, actor=actor)
    name = s3.safe_filename(uploaded_file.name, "orders.csv")
    prefix = DRY_RUN_PREFIX if dry_run else CSV_PREFIX
    key = f"{prefix}{uuid.uuid4()}-{name}"
    content_type = getattr(uploaded_file, "content_type", "") or "text/csv"
    if not dry_run:
        with transaction.atomic():
            csv_upload_record(
                key=key,
                uploaded_by=actor,
                content_type=content_type,
                declared_size=uploaded_file.size,
                mode=mode,
                strict=strict,
                original_name=uploaded_file.name,
                source=AuditEntry.Source.CONSOLE,
            )
            audit_record(
                action="upload.request",
                object_type="media.upload",
                object_id=key[:64],
                actor=actor,
                source=AuditEntry.Source.CONSOLE,
                after={"purpose": "orders-csv", "key": key, "size": uploaded_file.size, "mode": mode, "strict": strict},
            )
    bucket = resources.files_bucket()
    s3.put_stream(
        bucket=bucket,
        key=key,
        blocks=uploaded_file.chunks(UPLOAD_PART_BYTES),
        part_bytes=UPLOAD_PART_BYTES,
        content_type=content_type,
    )
    info = s3.head(bucket=bucket, key=key)
    return csv_import_object(
        info=info,
        actor=actor,
        source=AuditEntry.Source.CONSOLE,
        strict=strict,
        dry_run=dry_run,
        mode=mode,
        original_name=uploaded_file.name,
    )


def import_from_dry_run(*, dry_run: Import, actor) -> Import:
    """Import for real the object a dry run checked, with the same options."""
    if not dry_run.dry_run:
        raise ValueError("not a dry run")
    info = s3.head(bucket=dry_run.bucket, key=dry_run.key)
    return csv_import_object(
        info=info,
        actor=actor,
        source=AuditEntry.Source.CONSOLE,
        strict=dry_run.strict,
        mode=dry_run.mode,
        original_name=dry_run.original_name,
    )


# --- Imports: plan (fan-out) ---------------------------------------------------------------------


def import_plan(*, import_id) -> Import:
    """Read the object once, split it into chunks and queue them. Run again on a planned
    import, it queues the chunks that are not done (resume)."""
    import_run = Import.objects.get(pk=import_id)
    if import_run.is_final:
        return import_run
    if import_run.status == Import.Status.RUNNING and import_run.chunks.exists():
        _queue_open_chunks(import_run)
        return import_run
    Import.objects.filter(pk=import_run.pk).update(started_at=timezone.now(), status=Import.Status.RUNNING)
    # Read the options now: this update waited for any request changing them (under the
    # row's lock, while the import was still PENDING); from here on they no longer change.
    import_run.refresh_from_db()
    try:
        plan = plan_file(
            s3.read_blocks(
                bucket=import_run.bucket,
                key=import_run.key,
                version_id=_version_id(import_run),
                etag=import_run.etag,
            ),
            size=import_run.size,
            chunk_bytes=import_run.chunk_bytes,
        )
    except (FileRejected, s3.ObjectChanged, s3.ObjectMissing) as exc:
        return import_fail(import_id=import_run.pk, error=str(exc))
    first_phase = Import.Phase.CHECK if (import_run.strict or import_run.dry_run) else Import.Phase.INGEST
    with transaction.atomic():
        import_run = Import.objects.select_for_update().get(pk=import_id)
        if import_run.chunks.exists():  # planned concurrently
            return import_run
        ImportChunk.objects.bulk_create(
            ImportChunk(
                import_run=import_run,
                index=index,
                byte_start=chunk.byte_start,
                byte_end=chunk.byte_end,
                first_line=chunk.first_line,
                lines=chunk.lines,
                needs_python_reader=chunk.needs_python_reader,
                phase=first_phase,
            )
            for index, chunk in enumerate(plan.chunks)
        )
        import_run.columns = plan.header.cells
        import_run.encoding = plan.encoding
        import_run.warnings = plan.warnings
        import_run.phase = first_phase
        import_run.chunks_total = len(plan.chunks)
        import_run.save(update_fields=["columns", "encoding", "warnings", "phase", "chunks_total", "updated_at"])
        if not plan.chunks:
            import_run.warnings = [*plan.warnings, "The file has a header but no rows."]
            import_run.save(update_fields=["warnings"])
            return _import_close(import_run)
        _queue_open_chunks(import_run)
    return import_run


def _version_id(import_run: Import) -> str:
    return import_run.version if import_run.version != import_run.etag else ""


def _queue_open_chunks(import_run: Import) -> None:
    for chunk_id in import_run.chunks.exclude(status=ImportChunk.Status.DONE).values_list("pk", flat=True):
        _queue(CHUNK_JOB, chunk_id, import_run.phase)


# --- Imports: chunks and fan-in ------------------------------------------------------------------


def import_chunk_run(*, chunk_id: int, phase: str) -> ImportChunk:
    """Run one chunk of one pass, in one transaction with its "done" mark and the import's
    counters. A chunk already done (or of another pass) is left alone."""
    with transaction.atomic():
        chunk = ImportChunk.objects.select_for_update().get(pk=chunk_id)
        if chunk.phase != phase or chunk.status == ImportChunk.Status.DONE:
            return chunk
        chunk.status = ImportChunk.Status.RUNNING
        chunk.attempts += 1
        chunk.started_at = timezone.now()
        chunk.save(update_fields=["status", "attempts", "started_at", "updated_at"])

    with transaction.atomic():
        # The chunk (only: other chunks must not wait on the import's row) is locked for the
        # whole run: a second delivery of the same job waits, then skips.
        chunk = ImportChunk.objects.select_for_update(of=("self",)).select_related("import_run").get(pk=chunk_id)
        import_run = chunk.import_run
        if chunk.phase != phase or chunk.status == ImportChunk.Status.DONE or import_run.is_final:
            return chunk
        first_pass = not (import_run.strict and not import_run.dry_run and phase == Import.Phase.INGEST)
        write = phase == Import.Phase.INGEST
        result = orders_bulk_create(import_run=import_run, chunk=chunk, write=write, preview=chunk.index == 0)
        chunk.status = ImportChunk.Status.DONE
        chunk.finished_at = timezone.now()
        chunk.rows = result.rows
        chunk.rows_rejected = result.rows_rejected
        chunk.rows_ingested = result.rows_ok if write else 0
        chunk.orders_created = result.orders_ok if write else 0
        chunk.error = ""
        chunk.save()
        counted = write or import_run.dry_run
        updates = {
            "chunks_done": F("chunks_done") + 1,
            "bytes_done": F("bytes_done") + (chunk.byte_end - chunk.byte_start),
            "rows_ingested": F("rows_ingested") + (result.rows_ok if counted else 0),
            "orders_created": F("orders_created") + (result.orders_ok if counted else 0),
            "updated_at": timezone.now(),
        }
        if first_pass:
            updates["rows_total"] = F("rows_total") + result.rows
            updates["rows_rejected"] = F("rows_rejected") + result.rows_rejected
        if result.preview:
            updates["preview"] = result.preview
        Import.objects.filter(pk=import_run.pk).update(**updates)
        import_run = Import.objects.select_for_update().get(pk=import_run.pk)
        if import_run.chunks_done >= import_run.chunks_total:
            _phase_complete(import_run)
    return chunk


def _phase_complete(import_run: Import) -> Import:
    """All chunks of the pass are done (called once, under the import's row lock)."""
    if import_run.phase == Import.Phase.CHECK and not import_run.dry_run and not import_run.rows_rejected:
        # Strict and clean: now write.
        import_run.chunks.update(phase=Import.Phase.INGEST, status=ImportChunk.Status.PENDING)
        import_run.phase = Import.Phase.INGEST
        import_run.chunks_done = 0
        import_run.bytes_done = 0
        import_run.save(update_fields=["phase", "chunks_done", "bytes_done", "updated_at"])
        _queue_open_chunks(import_run)
        return import_run
    return _import_close(import_run)


def _import_close(import_run: Import) -> Import:
    if import_run.dry_run:
        status = Import.Status.CHECKED
    elif import_run.phase == Import.Phase.CHECK:
        status = Import.Status.REJECTED
    else:
        status = Import.Status.PARTIAL if import_run.rows_rejected else Import.Status.SUCCEEDED
    import_run.status = status
    import_run.phase = Import.Phase.DONE
    import_run.finished_at = timezone.now()
    import_run.save(update_fields=["status", "phase", "finished_at", "updated_at"])
    audit_record(
        action="import.finish",
        obj=import_run,
        after={
            "status": status,
            "rows": import_run.rows_total,
            "ingested": import_run.rows_ingested,
            "rejected": import_run.rows_rejected,
            "orders": import_run.orders_created,
        },
    )
    if status in {Import.Status.SUCCEEDED, Import.Status.PARTIAL} and import_run.mode == Import.Mode.WORKFLOW:
        _queue(WORKFLOWS_JOB, str(import_run.pk))
    return import_run


def import_fail(*, import_id, error: str) -> Import:
    with transaction.atomic():
        import_run = Import.objects.select_for_update().get(pk=import_id)
        if import_run.is_final:
            return import_run
        import_run.status = Import.Status.FAILED
        import_run.error = error
        import_run.finished_at = timezone.now()
        import_run.save(update_fields=["status", "error", "finished_at", "updated_at"])
        audit_record(action="import.fail", obj=import_run, reason=error, after={"status": import_run.status})
    return import_run


def import_chunk_failed(*, chunk_id: int, error: str) -> None:
    """A chunk kept failing: the import fails (its done chunks stay; rows are never
    imported twice, so resuming it later is safe)."""
    chunk = ImportChunk.objects.get(pk=chunk_id)
    ImportChunk.objects.filter(pk=chunk_id).update(status=ImportChunk.Status.FAILED, error=error[:4000])
    import_fail(
        import_id=chunk.import_run_id, error=f"Chunk {chunk.index} (from line {chunk.first_line}) failed: {error}"
    )


# --- Imports: resume -----------------------------------------------------------------------------


def import_resume(*, import_id, actor=None, source: str = AuditEntry.Source.CONSOLE) -> Import:
    """Queue again whatever an import has not finished (after a failure, or a crash that
    left it stalled). Raises ImportNotResumable, changing nothing, when there is nothing
    to resume (``Import.resume_refusal``: over, just queued, or moving)."""
    with transaction.atomic():
        import_run = Import.objects.select_for_update().get(pk=import_id)
        refusal = import_run.resume_refusal()
        if refusal:
            raise ImportNotResumable("import", refusal)
        was = import_run.status
        if import_run.status == Import.Status.FAILED and import_run.chunks_total:
            import_run.status = Import.Status.RUNNING
            import_run.error = ""
            import_run.finished_at = None
            import_run.save(update_fields=["status", "error", "finished_at", "updated_at"])
            import_run.chunks.filter(status=ImportChunk.Status.FAILED).update(status=ImportChunk.Status.PENDING)
        elif import_run.status == Import.Status.FAILED:
            import_run.status = Import.Status.PENDING
            import_run.error = ""
            import_run.save(update_fields=["status", "error", "updated_at"])
        else:
            # Stalled: touched now, so it is not offered again before it stalls again.
            import_run.save(update_fields=["updated_at"])
        audit_record(action="import.resume", obj=import_run, actor=actor, source=source, before={"status": was})
        if import_run.status == Import.Status.PENDING:
            _queue(PLAN_JOB, str(import_run.pk))
        else:
            _queue_open_chunks(import_run)
    return import_run


def imports_resume_stalled(*, older_than_seconds: int | None = None) -> int:
    """Scheduled: queue again the chunks (and plans) of imports nobody has touched for a
    while, e.g. after a worker died holding them. Returns how many jobs were queued."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds or settings.CSV_IMPORT_STALLED_SECONDS)
    queued = 0
    with transaction.atomic():
        unplanned = Import.objects.filter(
            Q(status=Import.Status.PENDING) | Q(status=Import.Status.RUNNING, chunks_total=0), updated_at__lt=cutoff
        )
        for import_id in unplanned.values_list("pk", flat=True)[:100]:
            Import.objects.filter(pk=import_id).update(updated_at=timezone.now())
            _queue(PLAN_JOB, str(import_id))
            queued += 1
        stalled = ImportChunk.objects.filter(
            import_run__status=Import.Status.RUNNING,
            status__in=[ImportChunk.Status.PENDING, ImportChunk.Status.RUNNING],
            updated_at__lt=cutoff,
        ).values_list("pk", "phase")[:1000]
        for chunk_id, phase in stalled:
            ImportChunk.objects.filter(pk=chunk_id).update(updated_at=timezone.now())
            _queue(CHUNK_JOB, chunk_id, phase)
            queued += 1
    return queued


# --- Imports: workflows of imported orders -------------------------------------------------------


def import_workflows_advance(*, import_id) -> int:
    """Hand the next batch of an import's orders to the workflow (one
    ``orders.signals.orders_submitted``), then queue the next batch after a pause: at most
    ``CSV_IMPORT_WORKFLOW_STARTS_PER_SECOND`` starts a second, so a million-row file
    does not flood Step Functions (StartExecution is throttled per account) or the queue.
    Returns how many were handed on. Safe to repeat: starting a workflow is idempotent."""
    batch_size = settings.CSV_IMPORT_WORKFLOW_BATCH
    with transaction.atomic():
        import_run = Import.objects.select_for_update().get(pk=import_id)
        batch = list(
            ImportedOrder.objects.filter(import_run=import_run, pk__gt=import_run.workflow_cursor)
            .order_by("pk")
            .values_list("pk", "order_id")[:batch_size]
        )
        if not batch:
            return 0
        order_ids = [order_id for _, order_id in batch]
        import_run.workflow_cursor = batch[-1][0]
        import_run.workflows_started += len(batch)
        import_run.save(update_fields=["workflow_cursor", "workflows_started", "updated_at"])

        transaction.on_commit(lambda: orders_submitted.send(sender=Order, order_ids=order_ids))
        if len(batch) == batch_size:
            _queue(
                WORKFLOWS_JOB,
                str(import_run.pk),
                countdown=batch_size / max(1, settings.CSV_IMPORT_WORKFLOW_STARTS_PER_SECOND),
            )
    return len(batch)


# --- Running an import in this process -----------------------------------------------------------


def import_run_inline(*, import_id) -> Import:
    """Run an import to its end in this process, chunk after chunk (tests, benchmarks,
    ``manage.py import_csv``). The same services as the jobs; nothing is queued."""
    with inline_jobs():
        import_run = import_plan(import_id=import_id)
        while not import_run.is_final:
            open_chunks = list(
                import_run.chunks.filter(phase=import_run.phase)
                .exclude(status=ImportChunk.Status.DONE)
                .values_list("pk", flat=True)
            )
            if not open_chunks:
                break
            for chunk_id in open_chunks:
                import_chunk_run(chunk_id=chunk_id, phase=import_run.phase)
            import_run.refresh_from_db()
    return import_run
