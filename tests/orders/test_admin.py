"""The console's order pages at scale: a list whose cost does not grow with the table (no
unbounded COUNT, no per-row queries), filters and searches that are index lookups, a
streamed CSV export of what the list shows, and the order's timeline."""

import csv
import functools
import io
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from django.urls import reverse
from django.utils import timezone

from console.api.pagination import keyset_chunks
from console.models import AuditEntry
from console.platform import roles
from orders import pages, services
from orders.lifecycle import OrderStatus
from orders.models import Order
from tests.conftest import csrf_post, make_user
from tests.factories import OrderFactory
from workflows.models import Approval, StepRun

pytestmark = pytest.mark.django_db

CHANGELIST = "/orders/order/"


@pytest.fixture
def logged_in(console_client, operator):
    console_client.force_login(operator)
    return console_client


def listed(response) -> set[str]:
    page = response.content.decode()
    return {str(order.pk) for order in Order.objects.all() if f"/orders/order/{order.pk}/change/" in page}


def test_the_list_costs_the_same_queries_for_ten_or_sixty_orders(logged_in):
    OrderFactory.create_batch(10)
    with CaptureQueriesContext(connection) as few:
        assert logged_in.get(CHANGELIST).status_code == 200
    OrderFactory.create_batch(50)
    with CaptureQueriesContext(connection) as many:
        assert logged_in.get(CHANGELIST).status_code == 200
    assert len(few.captured_queries) == len(many.captured_queries)
    counts = [q["sql"] for q in many.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts and all("LIMIT" in sql.upper() for sql in counts), counts  # bounded counts only


@override_settings(CONSOLE_EXACT_COUNT_LIMIT=5)
def test_past_the_exact_count_limit_the_list_says_about(logged_in):
    OrderFactory.create_batch(8)
    page = logged_in.get(CHANGELIST).content.decode()
    if connection.vendor == "postgresql":
        assert "estimated-count" in page and "about" in page
    else:  # SQLite has no planner estimate: small local data is counted
        assert "8 orders" in page


@pytest.mark.postgres
def test_postgresql_estimates_come_from_the_catalogue_and_the_planner():
    from console.platform.counts import planner_estimate

    OrderFactory.create_batch(30, status=OrderStatus.FAILED)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE orders_order")
    assert planner_estimate(Order.objects.all()) == 30
    assert 1 <= planner_estimate(Order.objects.filter(status=OrderStatus.FAILED)) <= 30


def test_search_by_order_id_its_start_or_a_customer(logged_in):
    ana, ben = OrderFactory(user_id="ana"), OrderFactory(user_id="ben")
    assert listed(logged_in.get(CHANGELIST, {"q": str(ana.pk)})) == {str(ana.pk)}
    assert listed(logged_in.get(CHANGELIST, {"q": str(ben.pk)[:8]})) == {str(ben.pk)}
    assert listed(logged_in.get(CHANGELIST, {"q": "ben"})) == {str(ben.pk)}
    assert listed(logged_in.get(CHANGELIST, {"q": "nobody"})) == set()


def test_filters_by_status_total_and_date(logged_in):
    failed = OrderFactory(status=OrderStatus.FAILED)
    big = OrderFactory(items=[{"product_id": "p", "name": "n", "quantity": 1, "price": Decimal("20000")}])
    old = OrderFactory()
    Order.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=400))
    page = logged_in.get(CHANGELIST, {"status__exact": "FAILED"})
    assert listed(page) == {str(failed.pk)}
    # Shown as the other lists show orders (first 8 characters, whole on hover), status coloured.
    html = page.content.decode()
    assert f'<span title="{failed.pk}">{str(failed.pk)[:8]}</span>' in html
    assert '<span class="order-status tone-bad">Failed</span>' in html
    assert listed(logged_in.get(CHANGELIST, {"total": "gte10000"})) == {str(big.pk)}
    since = (timezone.now() - timedelta(days=7)).isoformat()
    assert str(old.pk) not in listed(logged_in.get(CHANGELIST, {"created_at__gte": since}))


def export(client, **query) -> tuple[list[list[str]], object]:
    response = client.get(reverse("admin:orders_order_export"), query)
    assert response.status_code == 200 and response.streaming
    with CaptureQueriesContext(connection) as queries:
        text = b"".join(response.streaming_content).decode("utf-8-sig")
    response.row_queries = [q["sql"] for q in queries.captured_queries if "orders_order" in q["sql"]]
    return list(csv.reader(io.StringIO(text))), response


def test_the_export_streams_the_filtered_list_in_chunks_and_neutralises_formulas(logged_in, operator):
    wanted = [OrderFactory(status=OrderStatus.FAILED) for _ in range(7)]
    attack = OrderFactory(status=OrderStatus.FAILED, user_id='=HYPERLINK("http://evil","x")')
    OrderFactory(status=OrderStatus.CREATED)
    chunks = mock.Mock(side_effect=functools.partial(keyset_chunks, chunk_size=3))
    with mock.patch("orders.exports.keyset_chunks", chunks):
        rows, response = export(logged_in, status__exact="FAILED")
    assert response["Content-Disposition"].startswith('attachment; filename="orders-')
    assert rows[0] == ["order_id", "user_id", "status", "total", "created_at", "updated_at", "status_reason"]
    assert {row[0] for row in rows[1:]} == {str(o.pk) for o in [*wanted, attack]}
    assert {row[2] for row in rows[1:]} == {"FAILED"}
    assert len(rows) == 9 and len(response.row_queries) == 3  # 8 orders read 3 at a time
    assert [row[1] for row in rows[1:] if row[0] == str(attack.pk)] == ['\'=HYPERLINK("http://evil","x")']
    entry = AuditEntry.objects.get(action="order.export")
    assert entry.actor == operator and "status__exact=FAILED" in entry.reason


def test_the_export_follows_a_search_too(logged_in):
    order = OrderFactory(user_id="carla")
    OrderFactory(user_id="dora")
    rows, _ = export(logged_in, q="carla")
    assert [row[0] for row in rows[1:]] == [str(order.pk)]


def test_the_order_page_shows_one_timeline_of_events_steps_approvals_and_who_acted(logged_in, operator):
    from tests.workflows.test_approvals import make_approval

    approval = make_approval()
    order = approval.order
    StepRun.objects.create(
        execution=approval.execution, step="ValidateOrder", token_sha256="b" * 64, status="SUCCEEDED"
    )
    with mock.patch("workflows.sfn.send_task_success", return_value="req-9"):
        from workflows.approvals import approval_decide

        approval_decide(approval_id=approval.pk, approve=True, actor=operator, reason="known customer")
    services.order_note_add(order_id=order.pk, note="customer called back", actor=operator)

    page = logged_in.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    timeline = page[page.index('id="timeline"') :]
    for text in (
        "v1 OrderCreated",
        "Step ValidateOrder: Succeeded",
        "Approval requested",
        "Approval approved",
        "v2 OrderApproved (AWAITING_APPROVAL → APPROVED)",
        "customer called back",
        "(Console)",
    ):
        assert text in timeline, text
    assert timeline.count("olivia-operator") >= 3  # the decision, its event and the note, each with who
    assert Approval.objects.get(pk=approval.pk).decided_by == operator


def test_the_order_page_offers_close_not_a_save_that_changes_nothing(console_client):
    from console.platform import roles
    from tests.conftest import make_user

    admin_user = make_user("ada-admin", roles.ADMIN)  # may change orders, through their actions
    assert admin_user.has_perm("orders.change_order")
    console_client.force_login(admin_user)
    page = console_client.get(reverse("admin:orders_order_change", args=[OrderFactory().pk])).content.decode()
    assert 'class="closelink"' in page and 'name="_save"' not in page and 'name="_continue"' not in page


def test_the_timeline_does_not_query_per_entry(logged_in):
    order = OrderFactory()
    url = reverse("admin:orders_order_change", args=[order.pk])
    with CaptureQueriesContext(connection) as short:
        logged_in.get(url)
    for n in range(15):
        services.order_note_add(order_id=order.pk, note=f"note {n}")
    with CaptureQueriesContext(connection) as long:
        assert "note 14" in logged_in.get(url).content.decode()
    assert len(long.captured_queries) == len(short.captured_queries)


@pytest.fixture
def order_page_registry():
    """orders.pages' registries as they are (workflows' panel and timeline source), restored after."""
    with mock.patch.dict(pages._panels), mock.patch.dict(pages._timeline_sources):
        yield


def test_a_registered_timeline_source_appears_in_the_order_timeline_in_time_order(logged_in, order_page_registry):
    order = OrderFactory()
    asked = []

    def parcels(order_id):
        asked.append(order_id)
        at = order.created_at + timedelta(minutes=1)
        return [pages.TimelineEntry(at, "parcel", "Parcel scanned at the depot", "depot-7", "bay 3")]

    pages.register_timeline_source(key="parcels", source=parcels)
    services.order_note_add(order_id=order.pk, note="customer called back")

    page = logged_in.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    timeline = page[page.index('id="timeline"') :]
    assert asked == [order.pk]
    assert 'class="timeline-parcel"' in timeline and "depot-7" in timeline and "bay 3" in timeline
    positions = [timeline.index(text) for text in ("v1 OrderCreated", "customer called back", "Parcel scanned")]
    assert positions == sorted(positions)


def test_order_panels_come_in_their_order_and_those_with_nothing_to_show_are_left_out(order_page_registry):
    order = OrderFactory()
    pages._panels.clear()
    pages.register_panel(key="later", panel=lambda order_id: pages.OrderPanel("later.html", {"id": order_id}), order=20)
    pages.register_panel(key="empty", panel=lambda order_id: None, order=5)
    pages.register_panel(key="first", panel=lambda order_id: pages.OrderPanel("first.html", {}), order=10)

    panels = pages.order_panels(order_id=order.pk)

    assert [panel.template for panel in panels] == ["first.html", "later.html"]
    assert panels[1].context == {"id": order.pk}


def test_the_order_page_shows_the_workflow_panel_registered_by_workflows(logged_in):
    order = OrderFactory()
    page = logged_in.get(reverse("admin:orders_order_change", args=[order.pk])).content.decode()
    assert 'class="module workflow-panel"' in page and "No execution yet" in page


def test_adding_a_note_from_the_order_page(logged_in, operator):
    order = OrderFactory()
    url = reverse("admin:orders_order_change", args=[order.pk])
    response = csrf_post(logged_in, url, reverse("admin:orders_order_note", args=[order.pk]), {"note": "VIP"})
    assert response.status_code == 302 and response["Location"].endswith("#timeline")
    event = order.events.get(event_type="OrderNoteAdded")
    assert event.data == {"note": "VIP"} and event.actor_name == "olivia-operator"
    assert AuditEntry.objects.get(action="order.note_add").source == "console"


def test_cancelling_a_selection_too_large_changes_nothing(console_client):
    admin = make_user("alice-admin", roles.ADMIN)
    console_client.force_login(admin)
    orders = OrderFactory.create_batch(3, status=OrderStatus.VALIDATED)
    with mock.patch("orders.admin.MAX_ACTION_ORDERS", 2):
        response = csrf_post(
            console_client,
            CHANGELIST,
            CHANGELIST,
            {"action": "cancel_orders", "_selected_action": [str(o.pk) for o in orders]},
        )
    assert response.status_code == 302
    assert not Order.objects.filter(status=OrderStatus.CANCELLED).exists()
