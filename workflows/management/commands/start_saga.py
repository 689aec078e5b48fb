from django.core.management.base import BaseCommand, CommandError

from workflows.saga import FORWARD_STEPS, DrillsDisabled, saga_start


class Command(BaseCommand):
    help = "Start the order saga for an order; --fail-at STEP runs a failure drill of its compensations."

    def add_arguments(self, parser):
        parser.add_argument("order_id")
        parser.add_argument("--fail-at", choices=FORWARD_STEPS, default=None)

    def handle(self, *args, order_id: str, fail_at: str | None, **options):
        try:
            execution = saga_start(order_id=order_id, fail_at=fail_at, source="system")
        except DrillsDisabled as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"{execution.name} started: {execution.arn}")
