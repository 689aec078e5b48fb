"""console/api/pagination.py: what our subclass of DRF's CursorPagination does that DRF's
own does not, shown beside DRF's on the same rows."""

import base64
import json
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from console.api.pagination import KeysetPagination, keyset_chunks
from orders.models import Order

pytestmark = pytest.mark.django_db

# An order CSV import on PostgreSQL writes a chunk's orders with one created_at (now()):
# more of them than DRF's offset_cutoff (1,000).
TIED = 1_500
PAGE = 200


def tied_orders(n: int) -> set[str]:
    Order.objects.bulk_create(Order(user_id=f"c-{i}", total=Decimal("1")) for i in range(n))
    Order.objects.update(created_at=timezone.now())
    return {str(pk) for pk in Order.objects.values_list("pk", flat=True)}


def walk(paginator_class, url: str, *, pages: int = 20) -> tuple[list[str], list[str]]:
    """Follow next links from ``url``, at most ``pages`` pages: the ids in the order read,
    and the SQL of every page's query."""
    ids, sql = [], []
    while url and pages:
        paginator = paginator_class()
        with CaptureQueriesContext(connection) as queries:
            page = paginator.paginate_queryset(Order.objects.order_by("-created_at", "-id"), request(url))
        ids += [str(order.pk) for order in page]
        sql += [query["sql"].upper() for query in queries.captured_queries]
        url, pages = paginator.get_next_link(), pages - 1
    return ids, sql


def request(url: str) -> Request:
    return Request(APIRequestFactory().get(url))


class DrfCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = PAGE


def test_a_run_of_tied_created_at_is_read_once_with_no_offset_where_drfs_repeats_a_page():
    every = tied_orders(TIED)

    ours, our_sql = walk(KeysetPagination, f"/api/orders?limit={PAGE}")
    drf, drf_sql = walk(DrfCursorPagination, "/api/orders")

    assert len(ours) == TIED and set(ours) == every
    assert not any("OFFSET" in sql for sql in our_sql)
    # DRF's steps through the tie with OFFSET 200, 400, ... and, past its cutoff of 1,000,
    # answers the page at OFFSET 1,000 again and again: rows repeat, the last 300 never come.
    assert [sql.rsplit("OFFSET", 1)[-1].strip() for sql in drf_sql[1:6]] == ["200", "400", "600", "800", "1000"]
    assert len(drf) == 20 * PAGE and len(set(drf)) == 1_200 and set(drf) < every


def test_backwards_through_a_tie_gives_the_pages_before_in_order():
    tied_orders(5)
    first = KeysetPagination()
    forward = first.paginate_queryset(Order.objects.order_by("-created_at", "-id"), request("/api/orders?limit=2"))
    second = KeysetPagination()
    middle = second.paginate_queryset(Order.objects.order_by("-created_at", "-id"), request(first.get_next_link()))
    back = KeysetPagination()
    again = back.paginate_queryset(Order.objects.order_by("-created_at", "-id"), request(second.get_previous_link()))
    assert again == forward and middle[0] not in forward
    assert back.get_previous_link() is None and back.get_next_link() is not None


def test_the_ordering_is_the_querysets_and_a_cursor_belongs_to_it():
    tied_orders(3)
    paginator = KeysetPagination()
    page = paginator.paginate_queryset(Order.objects.order_by("total", "id"), request("/api/orders?limit=1"))
    assert paginator.ordering == ("total", "pk") and len(page) == 1
    cursor_url = paginator.get_next_link()
    with pytest.raises(ValidationError) as foreign:
        KeysetPagination().paginate_queryset(Order.objects.order_by("-created_at"), request(cursor_url))
    assert "another ordering" in str(foreign.value.detail["cursor"][0])


@pytest.mark.parametrize("cursor", ["not-a-cursor", "e30", base64.b64encode(b"o=1000&p=2026").decode()])
def test_a_cursor_this_list_did_not_make_is_a_400_naming_cursor_where_drfs_is_a_404(cursor):
    with pytest.raises(ValidationError) as ours:
        KeysetPagination().paginate_queryset(Order.objects.all(), request(f"/api/orders?cursor={cursor}"))
    assert list(ours.value.detail) == ["cursor"]
    if cursor == "not-a-cursor":
        with pytest.raises(NotFound):
            DrfCursorPagination().paginate_queryset(Order.objects.all(), request(f"/api/orders?cursor={cursor}"))


@pytest.mark.parametrize(("limit", "drfs"), [("0", PAGE), ("201", 200), ("x", PAGE)])
def test_a_limit_out_of_range_is_a_400_where_drfs_quietly_pages_otherwise(limit, drfs):
    with pytest.raises(ValidationError) as refused:
        KeysetPagination().paginate_queryset(Order.objects.all(), request(f"/api/orders?limit={limit}"))
    assert refused.value.detail == {"limit": ["A whole number from 1 to 200."]}
    drf = DrfCursorPagination()
    drf.page_size_query_param, drf.max_page_size = "limit", 200
    assert drf.get_page_size(request(f"/api/orders?limit={limit}")) == drfs


def test_a_cursor_made_before_the_move_to_drfs_class_still_reads():
    # The cursor the previous paginator made: the value as field.value_to_string wrote it.
    tied_orders(3)
    newest = Order.objects.order_by("-created_at", "-id").first()
    payload = {"o": "-created_at", "v": newest.created_at.isoformat(), "k": str(newest.pk), "b": False}
    token = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
    page = KeysetPagination().paginate_queryset(
        Order.objects.order_by("-created_at", "-id"), request(f"/api/orders?cursor={token}")
    )
    assert len(page) == 2 and newest not in page


def test_keyset_chunks_reads_a_tie_once_in_chunks():
    every = tied_orders(25)
    chunks = list(keyset_chunks(Order.objects.all(), chunk_size=10))
    assert [len(chunk) for chunk in chunks] == [10, 10, 5]
    assert sorted(str(order.pk) for chunk in chunks for order in chunk) == sorted(every)
