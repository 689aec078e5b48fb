"""The home page's "My actions": the user's own latest audit entries, linked where they may look."""

import re

import pytest
from django.urls import reverse

from console import roles
from console.audit import audit_record
from console.models import AuditEntry
from tests.conftest import make_user
from tests.factories import OrderFactory

pytestmark = pytest.mark.django_db


def my_actions(client) -> str:
    page = client.get(reverse("admin:index")).content.decode()
    return re.search(r'id="recent-actions-module">(.*?)</div>', page, re.S).group(1)


def test_the_users_own_audited_actions_newest_first_linked_to_their_pages(console_client, operator):
    order = OrderFactory()
    audit_record(action="order.note_add", obj=order, actor=operator, source=AuditEntry.Source.CONSOLE)
    audit_record(action="approval.first_approve", object_type="workflows.approval", object_id="41", actor=operator)
    someone_else = make_user("someone-else", roles.OPERATOR)
    audit_record(action="order.repair", obj=order, actor=someone_else)
    console_client.force_login(operator)

    sidebar = my_actions(console_client)
    assert sidebar.index("Approval 41") < sidebar.index(f"Order {str(order.pk)[:8]}")  # newest first
    assert reverse("admin:orders_order_change", args=[order.pk]) in sidebar
    assert "First approve" in sidebar and "Note add" in sidebar and "seconds ago" in sidebar
    assert "Repair" not in sidebar  # not theirs
    assert "audit log" not in sidebar  # operators cannot open the audit log


def test_no_link_to_a_page_the_user_may_not_see_and_a_word_when_there_is_nothing(console_client):
    support = make_user("sam-support", roles.SUPPORT)
    console_client.force_login(support)
    assert "None yet." in my_actions(console_client)

    audit_record(action="auth.user.password_change", object_type="auth.user", object_id="7", actor=support)
    sidebar = my_actions(console_client)
    assert "User 7" in sidebar and "/auth/user/7/" not in sidebar  # support may not view users
    assert f"?q={support.username}" in sidebar  # support may read the audit log: all of theirs
