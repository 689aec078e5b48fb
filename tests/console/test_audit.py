"""The audit log: every state-changing action from the console or the API is recorded
(actor, action, object, reason, before/after, time, request id), it can be found and
filtered in the console, and nobody can change or delete it."""

import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from console.models import AuditEntry
from console.platform import roles
from console.platform.audit import audit_record
from orders.lifecycle import OrderStatus
from tests.conftest import csrf_post, make_user
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db

WIDGETS = {"userId": "u", "items": [{"productId": "p1", "name": "Widget", "quantity": 1, "price": 5}]}


def test_api_changes_are_recorded_with_actor_request_id_and_before_after(api, api_user, submitted_orders):
    created = api.post("/api/orders", WIDGETS, format="json", HTTP_X_REQUEST_ID="req-create-1")
    order_id = created.json()["orderId"]
    api.delete(f"/api/orders/{order_id}", HTTP_X_REQUEST_ID="req-cancel-1")

    create = AuditEntry.objects.get(action="order.create", object_id=order_id)
    cancel = AuditEntry.objects.get(action="order.status_change", object_id=order_id)
    assert (create.actor, create.source, create.request_id) == (api_user, "api", "req-create-1")
    assert (cancel.actor_name, cancel.request_id, cancel.reason) == (
        "shop-backend",
        "req-cancel-1",
        "Cancelled through the API",
    )
    assert cancel.before["status"] == "CREATED" and cancel.after["status"] == "CANCELLED"
    assert create.created_at is not None


def test_console_changes_to_users_are_recorded_without_secrets(admin_user, console_client):
    target = make_user("temp-worker", roles.SUPPORT)
    console_client.force_login(admin_user)
    change_url = reverse("admin:auth_user_change", args=[target.pk])
    page = console_client.get(change_url).content.decode()
    assert "csrfmiddlewaretoken" in page
    response = csrf_post(
        console_client,
        reverse("admin:auth_user_password_change", args=[target.pk]),
        reverse("admin:auth_user_password_change", args=[target.pk]),
        {"password1": "a-new-long-passphrase-42", "password2": "a-new-long-passphrase-42", "usable_password": "true"},
    )
    assert response.status_code == 302, response.content[:500]
    entry = AuditEntry.objects.get(action="auth.user.change", object_id=str(target.pk))
    assert entry.actor == admin_user and entry.source == "console"
    assert entry.before == {"password": "(hidden)"} and entry.after == {"password": "(changed)"}
    assert "a-new-long-passphrase-42" not in str(entry.after) and "md5$" not in str(entry.after)


def test_console_stock_changes_are_recorded_with_before_and_after(admin_user, console_client):
    from orders.models import StockLevel

    stock = StockLevel.objects.create(product_id="sku-1", available=5)
    console_client.force_login(admin_user)
    url = reverse("admin:orders_stocklevel_change", args=[stock.pk])
    response = csrf_post(console_client, url, url, {"product_id": "sku-1", "available": "3"})
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="orders.stocklevel.change")
    assert (entry.before, entry.after) == ({"available": 5}, {"available": 3})


def test_entries_cannot_be_changed_or_deleted_through_the_app():
    entry = audit_record(action="order.create", object_type="orders.order", object_id="x")
    entry.reason = "rewritten"
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()
    with pytest.raises(ValueError):
        AuditEntry.objects.filter(pk=entry.pk).update(reason="rewritten")
    with pytest.raises(ValueError):
        AuditEntry.objects.filter(pk=entry.pk).delete()
    assert AuditEntry.objects.get(pk=entry.pk).reason == ""


@pytest.mark.postgres
def test_postgresql_refuses_updates_and_deletes_of_entries_and_keeps_them_when_users_go():
    actor = make_user("leaving-user", roles.OPERATOR)
    entry = audit_record(action="order.create", object_type="orders.order", object_id="x", actor=actor)
    for sql in (
        "UPDATE console_auditentry SET reason = 'rewritten' WHERE id = %s",
        "DELETE FROM console_auditentry WHERE id = %s",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(sql, [entry.pk])
    # Deleting the user only clears the link; the entry keeps who it was.
    get_user_model().objects.filter(pk=actor.pk).delete()
    kept = AuditEntry.objects.get(pk=entry.pk)
    assert kept.actor_id is None and kept.actor_name == "leaving-user"


def test_the_console_shows_the_log_filtered_and_searched_without_edit_buttons(admin_user, console_client):
    order = OrderFactory(status=OrderStatus.VALIDATED)
    audit_record(action="order.status_change", obj=order, reason="first")
    audit_record(action="approval.approve", object_type="workflows.approval", object_id="7", reason="second")
    console_client.force_login(admin_user)
    url = reverse("admin:console_auditentry_changelist")

    orders_only = console_client.get(url, {"action_family": "order.", "who": "all"}).content.decode()
    assert "first" in orders_only and "second" not in orders_only
    searched = console_client.get(url, {"q": str(order.pk)}).content.decode()
    assert "first" in searched and "second" not in searched
    # Each entry's object by kind and short id, linked to its page, the whole id on hover.
    order_page = reverse("admin:orders_order_change", args=[order.pk])
    assert f'<a href="{order_page}" title="{order.pk}">Order {str(order.pk)[:8]}</a>' in searched
    entry = AuditEntry.objects.get(reason="first")
    page = console_client.get(reverse("admin:console_auditentry_change", args=[entry.pk])).content.decode()
    assert 'name="_save"' not in page and "deletelink" not in page
    assert console_client.get(reverse("admin:console_auditentry_delete", args=[entry.pk])).status_code == 403


def test_operators_cannot_read_the_audit_log(operator, console_client):
    console_client.force_login(operator)
    assert console_client.get(reverse("admin:console_auditentry_changelist")).status_code == 403


def test_changing_ones_own_password_is_recorded(operator, console_client):
    console_client.force_login(operator)
    url = reverse("admin:password_change")
    response = csrf_post(
        console_client,
        url,
        url,
        {
            "old_password": "x-olivia-operator",
            "new_password1": "another-long-passphrase-7",
            "new_password2": "another-long-passphrase-7",
        },
    )
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action="auth.user.password_change")
    assert entry.actor == operator and entry.after == {"password": "(changed)"}


def test_the_log_links_only_to_pages_the_reader_may_see(console_client):
    support = make_user("sid-support", roles.SUPPORT)  # reads the log; may not view users
    user = make_user("someone", None)
    audit_record(action="auth.user.change", obj=user, reason="renamed")
    console_client.force_login(support)
    listing = console_client.get(reverse("admin:console_auditentry_changelist"), {"who": "all"}).content.decode()
    assert f'<span title="{user.pk}">User {user.pk}</span>' in listing
    assert reverse("admin:auth_user_change", args=[user.pk]) not in listing


def test_the_log_shows_peoples_actions_by_default_and_says_so(admin_user, console_client):
    person = make_user("pat-person", None)
    audit_record(action="order.status_change", object_type="orders.order", object_id="1", reason="by the workflow")
    audit_record(action="order.note_add", object_type="orders.order", object_id="1", actor=person, reason="a note")
    console_client.force_login(admin_user)
    url = reverse("admin:console_auditentry_changelist")

    default = console_client.get(url).content.decode()
    assert "a note" in default and "by the workflow" not in default
    assert 'data-who="people"' in default and "the system's own status changes are hidden" in default
    system = console_client.get(url, {"who": "system"}).content.decode()
    assert "by the workflow" in system and "a note" not in system
    everything = console_client.get(url, {"who": "all"}).content.decode()
    assert "by the workflow" in everything and "a note" in everything and 'data-who="all"' in everything
    # A search (a request id, an object id) looks at every entry unless told otherwise.
    searched = console_client.get(url, {"q": "1"}).content.decode()
    assert "by the workflow" in searched and "a note" in searched


@pytest.mark.parametrize(
    ("family", "shown", "hidden"),
    [
        ("dlq.", ["dlq.redrive", "dlq.purge"], ["alarm.mute"]),
        ("alarm.", ["alarm.mute", "alarm.acknowledge"], ["dlq.redrive"]),
        ("import.", ["import.start", "import.resume"], ["media.upload"]),
        ("media.", ["media.upload", "upload.request"], ["import.start"]),
    ],
)
def test_the_log_has_families_for_dead_letters_alarms_imports_and_media(
    admin_user, console_client, family, shown, hidden
):
    person = make_user("pat-person", None)
    for action in {
        "dlq.redrive",
        "dlq.purge",
        "alarm.mute",
        "alarm.acknowledge",
        "import.start",
        "import.resume",
        "media.upload",
        "upload.request",
    }:
        audit_record(action=action, object_type="x.y", object_id="1", actor=person, reason=f"did {action}")
    console_client.force_login(admin_user)
    page = console_client.get(reverse("admin:console_auditentry_changelist"), {"action_family": family})
    text = page.content.decode()
    assert all(f"did {action}" in text for action in shown)
    assert not any(f"did {action}" in text for action in hidden)


def test_the_log_shows_times_to_the_second(admin_user, console_client):
    entry = audit_record(action="order.note_add", object_type="orders.order", object_id="1", actor=admin_user)
    console_client.force_login(admin_user)
    page = console_client.get(reverse("admin:console_auditentry_changelist")).content.decode()
    assert f'<time datetime="{entry.created_at.isoformat()}">{entry.created_at:%Y-%m-%d %H:%M:%S}</time>' in page
    assert "When (UTC)" in page
