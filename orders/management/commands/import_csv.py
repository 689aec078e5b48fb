"""Import an order CSV that is in the files bucket, from the command line.

    python manage.py import_csv incoming/orders/2024-05.csv [--strict] [--dry-run] [--mode history]
    python manage.py import_csv --resume <import id> [--inline]

By default the import runs as jobs on the Celery workers, like an import started by S3;
``--inline`` runs it in this process to its end (or resumes it, after a crash).
"""

from django.core.management.base import BaseCommand, CommandError

from console.aws import resources, s3
from console.models import AuditEntry
from orders.imports.models import Import
from orders.imports.options import ImportRefused
from orders.imports.services import csv_import_object, import_resume, import_run_inline


class Command(BaseCommand):
    help = __doc__.splitlines()[0]

    def add_arguments(self, parser):
        parser.add_argument("key", nargs="?", help="object key in the files bucket")
        parser.add_argument("--resume", metavar="IMPORT_ID", help="continue an unfinished import")
        parser.add_argument("--strict", action="store_true")
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--mode", choices=Import.Mode.values)
        parser.add_argument("--chunk-bytes", type=int)
        parser.add_argument("--inline", action="store_true", help="run in this process, not on the workers")

    def handle(self, *args, **options):
        if options["resume"]:
            import_run = Import.objects.get(pk=options["resume"])
            if not options["inline"]:
                try:
                    import_run = import_resume(import_id=import_run.pk, source=AuditEntry.Source.SYSTEM)
                except ImportRefused as exc:
                    raise CommandError(str(exc)) from exc
        elif options["key"]:
            try:
                info = s3.head(bucket=resources.files_bucket(), key=options["key"])
            except s3.ObjectMissing as exc:
                raise CommandError(str(exc)) from exc
            import_run = csv_import_object(
                info=info,
                strict=options["strict"] or None,  # no flag: no preference (the upload's, or not strict)
                dry_run=options["dry_run"],
                mode=options["mode"],
                chunk_bytes=options["chunk_bytes"],
            )
        else:
            raise CommandError("Give an object key, or --resume IMPORT_ID.")
        if options["inline"]:
            import_run = import_run_inline(import_id=import_run.pk)
        self.stdout.write(
            f"{import_run.pk} {import_run.status}: {import_run.rows_total} rows, {import_run.rows_ingested} imported, "
            f"{import_run.rows_rejected} rejected, {import_run.orders_created} orders"
        )
        if import_run.error:
            self.stdout.write(import_run.error)
