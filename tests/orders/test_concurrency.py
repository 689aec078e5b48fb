"""Optimistic locking under real concurrency (PostgreSQL): writers on one order never
produce a gap or a duplicate version; losers retry on the new state."""

import threading

import pytest
from django.db import connection

from orders import services
from orders.lifecycle import InvalidTransition, OrderStatus
from orders.models import Order, OrderEvent
from orders.selectors import order_events_check
from tests.factories import OrderFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(count: int, work) -> list:
    barrier, results = threading.Barrier(count), []

    def worker(index: int) -> None:
        barrier.wait()
        try:
            results.append(work(index))
        except Exception as exc:  # collected: the test says which were expected
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_twenty_writers_on_one_order_leave_no_gap_and_no_duplicate():
    order = OrderFactory()
    services.append_stats.reset()

    def write(index: int) -> int:
        for n in range(3):
            services.order_note_add(order_id=order.pk, note=f"writer {index} note {n}", max_attempts=30)
        return index

    results = run_together(20, write)

    assert sorted(results) == list(range(20)), [r for r in results if isinstance(r, Exception)]
    versions = list(OrderEvent.objects.filter(order=order).order_by("version").values_list("version", flat=True))
    assert versions == list(range(1, 62))
    assert Order.objects.get(pk=order.pk).version == 61
    assert services.append_stats.conflicts > 0 and services.append_stats.gave_up == 0
    assert list(order_events_check(order_ids=[order.pk])) == []


def test_concurrent_status_changes_make_one_change_and_the_others_see_it():
    order = OrderFactory(status=OrderStatus.AWAITING_APPROVAL)

    def change(index: int):
        target = OrderStatus.APPROVED if index % 2 else OrderStatus.REJECTED
        return services.order_transition(order_id=order.pk, to_status=target).status

    results = run_together(10, change)

    final = Order.objects.get(pk=order.pk)
    assert final.version == 2
    assert list(OrderEvent.objects.filter(order=order).values_list("version", flat=True)) == [1, 2]
    # Whoever lost found the order already changed: the same change is a no-op, another is refused.
    for result in results:
        assert result == final.status or (isinstance(result, InvalidTransition) and result.current == final.status)
