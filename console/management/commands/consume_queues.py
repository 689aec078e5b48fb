import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from console.local_consumer import consume, schedules, sqs_routes


class Command(BaseCommand):
    help = "Run the SQS routes and schedules of zappa_settings.json events, calling their functions as Lambda would."

    def handle(self, *args, **options):
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        for route in sqs_routes(settings.STAGE):
            self.stdout.write(f"{route.queue_name} -> {route.function} (batch {route.batch_size})")
        for schedule in schedules(settings.STAGE):
            self.stdout.write(f"every {schedule.seconds}s -> {schedule.function}")
        threads = consume(stop)
        stop.wait()
        for thread in threads:
            thread.join(timeout=10)
