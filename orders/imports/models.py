"""The models of order CSV imports, registered under the ``orders`` app (``orders.models``
imports them). Their tables keep the names they had when imports lived in the media app.
"""

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

# Permissions, by name: who sees every client's imports (console staff; an API client sees
# only its own, orders.imports.selectors), and who may import orders as decided history
# (admins: such orders skip the workflow and its approval).
VIEW_ALL_IMPORTS = "orders.view_all_imports"
IMPORT_HISTORY = "orders.import_history"


class Import(models.Model):
    """One ingestion of an order CSV object: its source, options, status and counters.

    Idempotent per source object: ``(bucket, key, version)`` is unique among real imports
    (``version`` is the S3 version id, or the ETag when the bucket is not versioned), so the
    same object delivered twice creates nothing new. Dry runs are not bound by it.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING", "Waiting to start"
        RUNNING = "RUNNING", "Running"
        SUCCEEDED = "SUCCEEDED", "Imported"
        PARTIAL = "PARTIAL", "Imported, some rows rejected"
        REJECTED = "REJECTED", "Rejected (strict: nothing imported)"
        CHECKED = "CHECKED", "Dry run done"
        FAILED = "FAILED", "Failed"

    class Phase(models.TextChoices):
        PLAN = "PLAN", "Reading the file"
        CHECK = "CHECK", "Checking rows"
        INGEST = "INGEST", "Importing rows"
        DONE = "DONE", "Done"

    class Mode(models.TextChoices):
        WORKFLOW = "workflow", "Start the order workflow"
        HISTORY = "history", "Import as decided history"

    FINAL = frozenset({Status.SUCCEEDED, Status.PARTIAL, Status.REJECTED, Status.CHECKED, Status.FAILED})

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    bucket = models.CharField(max_length=255)
    key = models.CharField(max_length=1024)
    version = models.CharField(max_length=1024, help_text="S3 version id, or the ETag of an unversioned object.")
    etag = models.CharField(max_length=128, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    original_name = models.CharField(max_length=255, blank=True)

    strict = models.BooleanField(default=False, help_text="Import nothing if any row is rejected.")
    dry_run = models.BooleanField(default=False)
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.WORKFLOW)
    # Mode and strict were named by a request (an upload, the API, the console), not taken
    # from the defaults by the S3 event: they no longer change (orders.imports.services).
    options_fixed = models.BooleanField(default=False)
    chunk_bytes = models.PositiveIntegerField()

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    phase = models.CharField(max_length=8, choices=Phase.choices, default=Phase.PLAN)
    error = models.TextField(blank=True)
    warnings = models.JSONField(default=list, blank=True)
    # What the file looks like: header columns, encoding, and the first rows (dry runs).
    columns = models.JSONField(default=list, blank=True)
    encoding = models.CharField(max_length=16, blank=True)
    preview = models.JSONField(default=list, blank=True)

    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    bytes_done = models.PositiveBigIntegerField(default=0)
    rows_total = models.PositiveBigIntegerField(default=0)
    rows_ingested = models.PositiveBigIntegerField(default=0)
    rows_rejected = models.PositiveBigIntegerField(default=0)
    orders_created = models.PositiveBigIntegerField(default=0)
    # Mode "workflow": imported orders whose workflow start was handed on, and the last
    # ImportedOrder id handed on (starts are paced in batches, see orders.imports.services).
    workflows_started = models.PositiveBigIntegerField(default=0)
    workflow_cursor = models.PositiveBigIntegerField(default=0)

    correlation_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "media_import"
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "key", "version"],
                condition=models.Q(dry_run=False),
                name="import_once_per_object_version",
            )
        ]
        permissions = [
            ("view_all_imports", "Can see and import every client's order CSVs"),
            ("import_history", "Can import orders as decided history (no workflow, no approval)"),
        ]

    def __str__(self) -> str:
        return f"{'Dry run' if self.dry_run else 'Import'} of {self.original_name or self.key}"

    @property
    def is_final(self) -> bool:
        return self.status in self.FINAL

    @property
    def is_waiting(self) -> bool:
        """Not started: no job has read the file yet, so there are no chunks to count."""
        return self.status == self.Status.PENDING and not self.chunks_total

    @property
    def progress_percent(self) -> int:
        """How much of the work is done. A failed import shows the part it did (its done
        chunks stay, and a resume goes on from there), never a full bar."""
        if self.is_final and self.status != self.Status.FAILED:
            return 100
        if not self.size or not self.chunks_total:
            return 0
        # Strict imports read the file twice (check, then ingest): each pass is half.
        passes = 2 if (self.strict and not self.dry_run) else 1
        done = self.bytes_done + (self.size if (passes == 2 and self.phase == self.Phase.INGEST) else 0)
        return min(99, int(100 * done / (self.size * passes)))

    def resume_refusal(self, *, now=None) -> str:
        """Why Resume would do nothing now ("" when it would): only a failed import, or
        one that has not moved for ``CSV_IMPORT_STALLED_SECONDS`` (its job lost; the
        stalled-import sweep queues it again after as long), has anything to resume."""
        if self.status == self.Status.FAILED:
            return ""
        if self.status not in {self.Status.PENDING, self.Status.RUNNING}:
            return f"The import is over ({self.get_status_display().lower()}): nothing is left to resume."
        idle = ((now or timezone.now()) - self.updated_at).total_seconds() if self.updated_at else 0
        if idle >= settings.CSV_IMPORT_STALLED_SECONDS:
            return ""
        if self.is_waiting:
            return "The import is waiting to start: its first job reads the file shortly."
        return "The import is running: its jobs are moving it along."

    @property
    def resumable(self) -> bool:
        return not self.resume_refusal()


class CsvUpload(models.Model):
    """An order CSV someone asked to upload (a presigned POST, or a console upload), before
    it arrives: who uploads it and what they asked for. The S3 event that reports the
    object creates its import with these (so it is the uploader's import, in the mode they
    chose), and an API client may import only an object it uploaded."""

    key = models.CharField(max_length=1024)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    content_type = models.CharField(max_length=128)
    declared_size = models.PositiveBigIntegerField()
    # Blank / null: nobody chose, the import takes the defaults (CSV_IMPORT_MODE, not strict).
    mode = models.CharField(max_length=16, choices=Import.Mode.choices, blank=True)
    strict = models.BooleanField(null=True, blank=True)
    # The file's name on the uploader's machine (the key has a uuid before it), and the
    # request that asked for the upload: the import the S3 event creates later is the
    # uploader's, named as they named the file, audited with that request's id and source.
    original_name = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=16, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "media_csvupload"
        verbose_name = "order CSV upload"
        # A constraint rather than unique=True: no second (pattern) index on PostgreSQL.
        constraints = [models.UniqueConstraint(fields=["key"], name="csv_upload_key_unique")]

    def __str__(self) -> str:
        return self.key


class ImportChunk(models.Model):
    """A byte range of the file, starting and ending at an order boundary; one job each.

    A chunk writes its orders, its rejected rows and its "done" mark in one transaction,
    so a crash leaves it either wholly done or not at all, and running it again is safe.
    """

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        RUNNING = "RUNNING", "Running"
        DONE = "DONE", "Done"
        FAILED = "FAILED", "Failed"

    import_run = models.ForeignKey(Import, related_name="chunks", on_delete=models.CASCADE)
    index = models.PositiveIntegerField()
    byte_start = models.PositiveBigIntegerField()
    byte_end = models.PositiveBigIntegerField()
    # The physical line the chunk's first record starts on (the header is line 1).
    first_line = models.PositiveBigIntegerField()
    # Line breaks in the range: with no quoted line break, every line is one record.
    lines = models.PositiveBigIntegerField(default=0)
    # A quoted field holds a line break (records then span lines), or a quote stands inside
    # an unquoted field (COPY and Python's csv module read that differently): such chunks
    # are read record by record in Python, which keeps exact lines and cells.
    needs_python_reader = models.BooleanField(default=False)
    phase = models.CharField(max_length=8, choices=Import.Phase.choices, default=Import.Phase.INGEST)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    rows = models.PositiveBigIntegerField(default=0)
    rows_ingested = models.PositiveBigIntegerField(default=0)
    rows_rejected = models.PositiveBigIntegerField(default=0)
    orders_created = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "media_importchunk"
        ordering = ["import_run", "index"]
        constraints = [models.UniqueConstraint(fields=["import_run", "index"], name="import_chunk_index_unique")]

    def __str__(self) -> str:
        return f"chunk {self.index} of {self.import_run_id}"


class RejectedRow(models.Model):
    """A row that was not imported: where it is in the file, which column, and why."""

    import_run = models.ForeignKey(Import, related_name="rejected_rows", on_delete=models.CASCADE)
    line = models.PositiveBigIntegerField()
    column = models.CharField(max_length=255, blank=True)
    reason = models.TextField()
    # The row's cells (each cut to a few KB), for the rejected-rows CSV.
    values = models.JSONField(default=list)

    class Meta:
        db_table = "media_rejectedrow"
        ordering = ["import_run", "line", "id"]
        indexes = [models.Index(fields=["import_run", "line"], name="rejected_row_by_line")]

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


class ImportedOrder(models.Model):
    """The external order reference of an imported order: unique, so an order is imported
    once whatever file, chunk or retry brings it again.

    Written set-based with the orders it points to, in the same transaction; its foreign
    keys are not database constraints, which PostgreSQL would check once per row at commit
    (two checks per imported order). Deleting an order or an import still deletes these
    rows (Django's on_delete).
    """

    reference = models.CharField(max_length=128)
    order = models.ForeignKey(
        "orders.Order", related_name="import_references", on_delete=models.CASCADE, db_constraint=False
    )
    import_run = models.ForeignKey(
        Import, related_name="imported_orders", on_delete=models.CASCADE, db_constraint=False, db_index=False
    )
    line = models.PositiveBigIntegerField()

    class Meta:
        db_table = "media_importedorder"
        # A constraint rather than unique=True: no second (pattern) index on PostgreSQL.
        constraints = [models.UniqueConstraint(fields=["reference"], name="imported_order_reference_unique")]
        indexes = [models.Index(fields=["import_run", "id"], name="imported_order_by_import")]

    def __str__(self) -> str:
        return self.reference
