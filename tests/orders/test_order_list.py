"""The console's order list is one selector (``orders.selectors.order_console_list``): the
changelist shows its rows and an export job writes them, for the same address parameters,
with no request replayed."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from orders import exports, selectors
from orders.lifecycle import OrderStatus
from orders.models import Order
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:orders_order_changelist"


@pytest.fixture
def orders():
    now = timezone.now()
    wanted = {
        "failed_small": (OrderStatus.FAILED, Decimal("50"), "ana"),
        "failed_big": (OrderStatus.FAILED, Decimal("5000"), "ben"),
        "created_mid": (OrderStatus.CREATED, Decimal("500"), "ana"),
        "old_failed": (OrderStatus.FAILED, Decimal("20000"), "caro"),
    }
    made = {}
    for name, (status, total, user_id) in wanted.items():
        made[name] = OrderFactory(status=status, user_id=user_id)
        # The factory's items give a total of their own: set the bracket's.
        Order.objects.filter(pk=made[name].pk).update(total=total)
    Order.objects.filter(pk=made["old_failed"].pk).update(created_at=now - timedelta(days=40))
    return made


def changelist_ids(client, query: dict) -> list:
    response = client.get(reverse(CHANGELIST), query)
    assert response.status_code == 200, response
    return [order.pk for order in response.context["cl"].result_list]


@pytest.mark.parametrize(
    "query, expected",
    [
        ({}, {"failed_small", "failed_big", "created_mid", "old_failed"}),
        ({"status__exact": "FAILED"}, {"failed_small", "failed_big", "old_failed"}),
        ({"status__exact": "FAILED", "total": "1000-10000"}, {"failed_big"}),
        ({"status": "CREATED"}, {"created_mid"}),
        ({"total": "lt100"}, {"failed_small"}),
        ({"q": "ana"}, {"failed_small", "created_mid"}),
        ({"q": "ana", "status__exact": "CREATED"}, {"created_mid"}),
        ({"created_at__gte": "TODAY"}, {"failed_small", "failed_big", "created_mid"}),
        ({"q": "ID8:failed_big"}, {"failed_big"}),
    ],
)
def test_the_changelist_and_an_export_list_the_same_orders(client, operator, orders, query, expected):
    query = {
        key: (
            str(timezone.now().replace(hour=0, minute=0, second=0, microsecond=0))
            if value == "TODAY"
            else str(orders[value[4:]].pk)[:8]
            if value.startswith("ID8:")
            else value
        )
        for key, value in query.items()
    }
    client.force_login(operator)
    wanted = {orders[name].pk for name in expected}

    shown = changelist_ids(client, query)
    listed = list(selectors.order_console_list(params=query).values_list("pk", flat=True))

    assert set(shown) == wanted
    assert listed == shown  # the same rows, newest first, as the page shows them


def test_parameters_the_list_does_not_have_or_cannot_read_are_refused(client, operator, orders):
    for bad in ({"status__exact": "LOST"}, {"total": "huge"}, {"created_at__gte": "yesterday"}, {"colour": "red"}):
        with pytest.raises(selectors.OrderListInvalid):
            selectors.order_console_list(params=bad)
    client.force_login(operator)
    # The page says so (Django's "?e=1"), as it does for any filter it cannot apply.
    response = client.get(reverse(CHANGELIST), {"total": "huge"})
    assert response.status_code == 302 and "e=1" in response.url


def test_an_export_job_with_filters_the_list_cannot_read_writes_nothing(operator, orders):
    operator.user_permissions.add(*_export_permissions())
    with pytest.raises(exports.ExportRefused, match="not valid"):
        exports.export_to_file(user_id=operator.pk, filters="total=huge", key="exports/orders/x.csv")


def _export_permissions():
    from django.contrib.auth.models import Permission

    return Permission.objects.filter(codename__in=["view_order", "export_order"], content_type__app_label="orders")
