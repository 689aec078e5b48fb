from django.core.management.base import BaseCommand, CommandError

from ops.redrive.runner import redrive_job_run


class Command(BaseCommand):
    help = "Run a redrive job in this process (as the worker would); --takeover resumes one whose process died."

    def add_arguments(self, parser):
        parser.add_argument("job_id")
        parser.add_argument("--takeover", action="store_true", help="run it even if it is marked running")

    def handle(self, *args, job_id: str, takeover: bool, **options):
        job = redrive_job_run(job_id=job_id, takeover=takeover)
        if job is None:
            raise CommandError("The job is not queued (or running, without --takeover): nothing to run.")
        self.stdout.write(f"{job.status}: {job.moved} moved, {job.failed} failed of {job.total}")
