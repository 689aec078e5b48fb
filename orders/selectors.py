"""Reads of orders, with the related rows each caller needs fetched up front."""

import re
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Count, Prefetch, QuerySet
from django.db.models.functions import TruncMinute
from django.utils import timezone

from console.models import AuditEntry
from orders.events import ReplayError, order_differences, order_replay
from orders.lifecycle import OrderStatus
from orders.models import CHANGE_ALL_ORDERS, VIEW_ALL_ORDERS, Order, OrderEvent, OrderItem
from orders.pages import TimelineEntry, order_timeline_sources


def order_visible_to(*, user) -> QuerySet[Order]:
    """The orders ``user`` may see through the API: every order with
    ``orders.view_all_orders`` or ``orders.change_all_orders`` (the console's roles, a
    reporting client, superusers), otherwise only those it created (``Order.created_by``).
    Every API read starts here, and every change checks ``order_changeable_by`` too, so
    one client never reaches another's orders."""
    if user is None or not user.is_authenticated:
        return Order.objects.none()
    if user.has_perm(VIEW_ALL_ORDERS) or user.has_perm(CHANGE_ALL_ORDERS):
        return Order.objects.all()
    return Order.objects.filter(created_by=user)


def order_changeable_by(*, order: Order, user) -> bool:
    """Whether ``user`` may change or cancel ``order`` through the API (given the action's
    own permission): its own order, or any with ``orders.change_all_orders``. Seeing every
    order (``view_all_orders``) is not enough."""
    if user is None or not user.is_authenticated:
        return False
    return (order.created_by_id is not None and order.created_by_id == user.pk) or user.has_perm(CHANGE_ALL_ORDERS)


def order_list(*, user, filters: dict | None = None) -> QuerySet[Order]:
    """The orders ``user`` may see (``order_visible_to``), newest first, items prefetched."""
    filters = filters or {}
    qs = order_visible_to(user=user).prefetch_related(Prefetch("items", queryset=OrderItem.objects.order_by("id")))
    if status := filters.get("status"):
        qs = qs.filter(status=status)
    if user_id := filters.get("user_id"):
        qs = qs.filter(user_id=user_id)
    return qs.order_by("-created_at", "-id")


def order_get(*, order_id: UUID, user) -> Order:
    """The order with its items, if ``user`` may see it; raises Order.DoesNotExist
    otherwise (another client's order is as absent as a missing one)."""
    return order_visible_to(user=user).prefetch_related("items").get(pk=order_id)


def order_event_list(*, order: Order, newest_first: bool = False) -> QuerySet[OrderEvent]:
    """The order's event history, oldest first (by version) or newest first. The caller
    checked that it may see ``order`` (``order_get``): events carry no visibility of their own."""
    return OrderEvent.objects.filter(order=order).order_by("-version" if newest_first else "version")


def order_event_oldest_unpublished_age(*, now: datetime | None = None) -> float:
    """Seconds since the oldest order event still in the outbox (``published_at`` empty)
    was written; 0 when none waits. One query on the partial index of unpublished events,
    whatever the table's size."""
    oldest = (
        OrderEvent.objects.filter(published_at__isnull=True)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
    if oldest is None:
        return 0.0
    return max(0.0, ((now or timezone.now()) - oldest).total_seconds())


# --- The console's order list ----------------------------------------------------------------

_HEX = re.compile(r"^[0-9a-f]+$")
MIN_ID_PREFIX = 8

# The list's total brackets: (from, below), a range scan on the total index.
TOTAL_BRACKETS: dict[str, tuple[Decimal | None, Decimal | None]] = {
    "lt100": (None, Decimal("100")),
    "100-1000": (Decimal("100"), Decimal("1000")),
    "1000-10000": (Decimal("1000"), Decimal("10000")),
    "gte10000": (Decimal("10000"), None),
}
# Parameters of the list's address that do not filter: page, sort, popup and the like.
_LIST_DISPLAY_PARAMS = {"p", "o", "e", "all", "_to_field", "_popup", "_changelist_filters"}
_STATUS_PARAMS = {"status", "status__exact"}
_CREATED_LOOKUPS = ("created_at__gte", "created_at__gt", "created_at__lt", "created_at__lte")


class OrderListInvalid(ValueError):
    """The list's parameters are not ones the order list knows, or not valid values."""


def order_event_counts_per_minute(*, event_types: list[str], start: datetime, end: datetime) -> dict[tuple, int]:
    """How many events of each type were written in each minute of [start, end):
    ``{(event_type, minute): count}``, minutes without events left out. One grouped
    query on the (event_type, created_at) index."""
    rows = (
        OrderEvent.objects.filter(event_type__in=event_types, created_at__gte=start, created_at__lt=end)
        .annotate(minute=TruncMinute("created_at"))
        .values("event_type", "minute")
        .annotate(n=Count("id"))
    )
    return {(row["event_type"], row["minute"]): row["n"] for row in rows}


def order_search(queryset: QuerySet[Order], term: str) -> QuerySet[Order]:
    """The console's search box: an order id or its first 8+ characters (a range on the
    primary key), otherwise an exact customer id (indexed): never a table scan."""
    term = term.strip()
    if not term:
        return queryset
    bounds = order_id_range(term)
    if bounds is not None:
        return queryset.filter(pk__gte=bounds[0], pk__lte=bounds[1])
    return queryset.filter(user_id=term)


def order_total_bracket(queryset: QuerySet[Order], bracket: str | None) -> QuerySet[Order]:
    low, high = TOTAL_BRACKETS.get(bracket or "", (None, None))
    if low is not None:
        queryset = queryset.filter(total__gte=low)
    if high is not None:
        queryset = queryset.filter(total__lt=high)
    return queryset


def order_console_list(*, params: Mapping[str, str]) -> QuerySet[Order]:
    """The console's order list for the parameters of its address (``status`` or
    ``status__exact``; ``created_at__gte``, ``__gt``, ``__lt``, ``__lte``; ``total``;
    ``q``), newest first: what the changelist shows and what an export writes. Raises
    ``OrderListInvalid`` for a parameter the list does not have or a value it cannot read."""
    unknown = set(params) - _LIST_DISPLAY_PARAMS - _STATUS_PARAMS - set(_CREATED_LOOKUPS) - {"total", "q"}
    if unknown:
        raise OrderListInvalid(f"Not a filter of the order list: {', '.join(sorted(unknown))}")
    queryset = Order.objects.all()
    for name in _STATUS_PARAMS & set(params):
        if params[name] not in OrderStatus.values:
            raise OrderListInvalid(f"Not an order status: {params[name]}")
        queryset = queryset.filter(status=params[name])
    for name in _CREATED_LOOKUPS:
        if value := params.get(name):
            try:
                moment = Order._meta.get_field("created_at").to_python(value)
            except ValidationError:
                raise OrderListInvalid(f"Not a date: {value}") from None
            queryset = queryset.filter(**{name: moment})
    if (bracket := params.get("total")) and bracket not in TOTAL_BRACKETS:
        raise OrderListInvalid(f"Not a total bracket: {bracket}")
    queryset = order_total_bracket(queryset, params.get("total"))
    return order_search(queryset, params.get("q", "")).order_by("-created_at", "-id")


def order_id_range(term: str) -> tuple[UUID, UUID] | None:
    """The id range an order id or id prefix covers, for an index range scan on the
    primary key: ``"1a2b3c4d"`` covers 1a2b3c4d-0000-... to 1a2b3c4d-ffff-....
    None when ``term`` is not (the start of) an order id of at least 8 hex digits."""
    digits = term.strip().lower().replace("-", "")
    if len(digits) < MIN_ID_PREFIX or len(digits) > 32 or not _HEX.match(digits):
        return None
    return UUID(digits.ljust(32, "0")), UUID(digits.ljust(32, "f"))


def order_timeline(*, order_id: UUID) -> list[TimelineEntry]:
    """Everything that happened to an order, oldest first, in one list: its events (with
    who caused them, from where, and the request id), other console/API actions from the
    audit log (exports, repairs), and the entries of the apps built on orders (the
    timeline sources registered in ``orders.pages``: the workflow's steps, approval
    requests and decisions). Two queries, and each source's own, whatever the history's
    size."""
    entries: list[TimelineEntry] = []
    by_version: dict[int, TimelineEntry] = {}
    for event in OrderEvent.objects.filter(order_id=order_id).order_by("version"):
        data = event.data or {}
        detail = data.get("note") or data.get("reason") or data.get("summary") or ""
        title = f"v{event.version} {event.event_type}"
        if "status" in data and event.event_type != "OrderCreated":
            title += f" ({data.get('previousStatus', '?')} → {data['status']})"
        entry = TimelineEntry(
            event.created_at,
            "event",
            title,
            event.actor_name,
            detail,
            {"published": event.published_at is not None, "event_id": str(event.pk)},
        )
        by_version[event.version] = entry
        entries.append(entry)
    entries.extend(order_timeline_sources(order_id=order_id))
    audit = AuditEntry.objects.filter(object_type="orders.order", object_id=str(order_id)).order_by("created_at")
    for record in audit:
        version = 1 if record.action == "order.create" else (record.after or {}).get("version")
        event_entry = by_version.get(version) if isinstance(version, int) else None
        if event_entry is not None and record.action in {"order.create", "order.status_change", "order.note_add"}:
            # The audit record of the change an event already shows: add where it came from.
            event_entry.extra.update(source=record.get_source_display(), request_id=record.request_id)
            event_entry.actor = event_entry.actor or record.actor_name
            continue
        entries.append(
            TimelineEntry(
                record.created_at,
                "audit",
                f"{record.action} ({record.get_source_display()})",
                record.actor_name,
                record.reason,
                {"request_id": record.request_id},
            )
        )
    entries.sort(key=lambda entry: entry.at)
    return entries


@dataclass
class OrderCheck:
    """An order whose row disagrees with its events, or whose events cannot be replayed."""

    order_id: UUID
    problem: str
    differences: dict = field(default_factory=dict)


def order_events_check(*, batch_size: int = 1000, order_ids: list[UUID] | None = None) -> Iterator[OrderCheck]:
    """Replay every order's events (or those of ``order_ids``) and yield each order that
    disagrees with its replay. Three queries per ``batch_size`` orders, walking the
    primary key, so it runs in constant memory over any number of orders."""
    base = Order.objects.order_by("pk")
    if order_ids is not None:
        base = base.filter(pk__in=order_ids)
    after = None
    while True:
        page = base if after is None else base.filter(pk__gt=after)
        orders = list(page[:batch_size])
        if not orders:
            return
        ids = [order.pk for order in orders]
        events: dict[UUID, list] = defaultdict(list)
        for event in OrderEvent.objects.filter(order_id__in=ids).only("order_id", "version", "event_type", "data"):
            events[event.order_id].append(event)
        items: dict[UUID, list] = defaultdict(list)
        for item in OrderItem.objects.filter(order_id__in=ids).only("order_id", "product_id", "quantity", "price"):
            items[item.order_id].append(item)
        for order in orders:
            try:
                state = order_replay(events[order.pk])
            except ReplayError as exc:
                yield OrderCheck(order.pk, str(exc))
                continue
            differences = order_differences(order=order, items=items[order.pk], state=state)
            if differences:
                yield OrderCheck(order.pk, "the row differs from its events", differences)
        after = orders[-1].pk
