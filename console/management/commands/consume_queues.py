import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from console.devtools.local_consumer import FunctionEnvironments, consume, local_concurrency, stage_functions


class Command(BaseCommand):
    help = (
        "Run the stage's Lambda functions locally: their SQS event sources and schedules from "
        "zappa_settings.json, each invocation in the function's own execution environments."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--skip-queue",
            action="append",
            default=[],
            metavar="NAME",
            help="a queue another consumer reads (the jobs queue, when a Celery worker runs it)",
        )

    def handle(self, *args, skip_queue: list[str], **options):
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        for function in stage_functions(settings.STAGE):
            self.stdout.write(
                f"{function.name}: timeout {function.timeout_seconds} s, "
                f"{local_concurrency(function)} environment(s) here"
                + (f" (reserved concurrency {function.reserved_concurrency})" if function.reserved_concurrency else "")
            )
            for route in function.routes:
                skipped = " (skipped: another consumer reads it)" if route.queue_name in skip_queue else ""
                self.stdout.write(f"  {route.queue_name} -> {route.function} (batch {route.batch_size}){skipped}")
            for schedule in function.schedules:
                self.stdout.write(f"  every {schedule.seconds}s -> {schedule.function}")
        self.stdout.flush()
        started = consume(stop, skip_queues=set(skip_queue))
        stop.wait()
        for item in started:
            if isinstance(item, threading.Thread):
                item.join(timeout=5)
        for item in started:
            if isinstance(item, FunctionEnvironments):
                item.close()
