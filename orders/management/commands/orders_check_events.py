"""Check every order against the replay of its events, and repair what can be repaired.

    manage.py orders_check_events [--repair] [--order ID ...] [--batch-size 1000]

Exits non-zero when an order still disagrees with its events afterwards (so a scheduled
run or CI notices).
"""

import uuid

from django.core.management.base import BaseCommand, CommandError

from orders.events import ReplayError
from orders.selectors import order_events_check
from orders.services import order_repair


class Command(BaseCommand):
    help = "Replay every order's events and compare with the order; --repair rebuilds rows from their events."

    def add_arguments(self, parser):
        parser.add_argument("--repair", action="store_true", help="rebuild rows from events; record missing histories")
        parser.add_argument("--order", action="append", type=uuid.UUID, dest="orders", help="only this order (repeat)")
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, repair: bool, orders: list[uuid.UUID] | None, batch_size: int, **options):
        disagreeing = repaired = 0
        unrepaired = []
        for check in order_events_check(batch_size=batch_size, order_ids=orders):
            disagreeing += 1
            details = ", ".join(
                f"{name}: row {row!r}, events {replayed!r}" for name, (row, replayed) in check.differences.items()
            )
            self.stdout.write(f"{check.order_id}: {check.problem}{' (' + details + ')' if details else ''}")
            if not repair:
                unrepaired.append(check.order_id)
                continue
            try:
                outcome = order_repair(order_id=check.order_id)
            except ReplayError as exc:
                self.stdout.write(f"  not repaired, needs a person: {exc}")
                unrepaired.append(check.order_id)
            else:
                repaired += 1
                self.stdout.write(f"  repaired ({outcome.action})")
        if not disagreeing:
            self.stdout.write("All orders agree with their events.")
            return
        self.stdout.write(f"{disagreeing} disagreed with their events; {repaired} repaired.")
        if unrepaired:
            hint = "" if repair else " Run with --repair to rebuild them from their events."
            raise CommandError(f"{len(unrepaired)} order(s) still disagree with their events.{hint}")
