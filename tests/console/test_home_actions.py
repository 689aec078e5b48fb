"""The home page's "My actions": the user's own latest audit entries, linked where they may look."""

import re

import pytest
from django.urls import reverse

from console.models import AuditEntry
from console.platform import roles
from console.platform.audit import audit_record
from tests.conftest import make_user
from tests.factories import OrderFactory
from tests.workflows.conftest import make_pending_approval

pytestmark = pytest.mark.django_db


def my_actions(client) -> str:
    page = client.get(reverse("admin:index")).content.decode()
    return re.search(r'id="recent-actions-module">(.*?)</div>', page, re.S).group(1)


def test_the_users_own_audited_actions_newest_first_linked_to_their_pages(console_client, operator):
    order = OrderFactory()
    audit_record(action="order.note_add", obj=order, actor=operator, source=AuditEntry.Source.CONSOLE)
    approval = make_pending_approval("home")
    audit_record(action="approval.first_approve", obj=approval, actor=operator)
    audit_record(action="approval.approve", object_type="workflows.approval", object_id="999999", actor=operator)
    audit_record(action="order.repair", object_type="orders.order", object_id="not-a-uuid", actor=operator)
    someone_else = make_user("someone-else", roles.OPERATOR)
    audit_record(action="order.repair", obj=order, actor=someone_else)
    console_client.force_login(operator)

    sidebar = my_actions(console_client)
    # Named as their pages name them, newest first; gone or unreadable ids by kind and id.
    named = str(approval)
    assert "Approval 999999" in sidebar and "Order not-a-u" in sidebar
    assert sidebar.index("Approval 999999") < sidebar.index(named) < sidebar.index(f"Order {str(order.pk)[:8]}")
    assert reverse("admin:orders_order_change", args=[order.pk]) in sidebar
    assert reverse("admin:workflows_approval_change", args=[approval.pk]) in sidebar
    assert "First approve" in sidebar and "Note add" in sidebar and "seconds ago" in sidebar
    assert sidebar.count("Repair") == 1  # their own, not their colleague's
    assert "audit log" not in sidebar  # operators cannot open the audit log


def test_no_link_to_a_page_the_user_may_not_see_and_a_word_when_there_is_nothing(console_client):
    support = make_user("sam-support", roles.SUPPORT)
    console_client.force_login(support)
    assert "None yet." in my_actions(console_client)

    audit_record(action="auth.user.password_change", obj=support, actor=support)
    sidebar = my_actions(console_client)
    assert "sam-support" in sidebar and "User password change" in sidebar
    assert f"/auth/user/{support.pk}/" not in sidebar  # support may not view users: named, not linked
    assert f"?q={support.username}" in sidebar  # support may read the audit log: all of theirs
