"""Links to users only for readers who may open them (console.pages.user_links), the
console's own refusal page (console.pages.errors) and an object's history page made of its
audit trail (console.pages.audit_history)."""

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.urls import reverse

from console.pages.user_links import UserLinksMixin
from console.platform import roles
from console.platform.audit import audit_record
from media.models import MediaAsset
from orders.imports.models import Import
from tests.conftest import make_user
from tests.workflows.conftest import make_pending_approval
from workflows.approvals import approval_claim
from workflows.models import Approval

pytestmark = pytest.mark.django_db


def user_page_links(page: str) -> list[str]:
    return re.findall(r'href="(/auth/user/\d+/change/)"', page)


@pytest.fixture
def admin_user(db):
    return make_user("ada-admin", roles.ADMIN)


@pytest.fixture
def decided_approval(operator):
    approval = make_pending_approval("links")
    approval_claim(approval_id=approval.pk, actor=operator)
    Approval.objects.filter(pk=approval.pk).update(
        status=Approval.Status.REJECTED, decided_by=operator, decided_at=approval.requested_at, reason="fraud"
    )
    return approval


def test_an_operator_sees_who_decided_an_approval_as_text_and_an_admin_as_a_link(
    client, operator, admin_user, decided_approval
):
    url = reverse("admin:workflows_approval_change", args=[decided_approval.pk])
    client.force_login(operator)
    page = client.get(url).content.decode()
    assert 'class="form-row field-decided_by"' in page or "field-decided_by" in page
    decided_by = re.search(r'field-decided_by.*?<div class="readonly">(.*?)</div>', page, re.S).group(1)
    assert decided_by.strip() == "olivia-operator"
    assert user_page_links(page) == []
    # What the link would have given them:
    assert client.get(f"/auth/user/{operator.pk}/change/").status_code == 403

    client.force_login(admin_user)
    page = client.get(url).content.decode()
    assert set(user_page_links(page)) == {f"/auth/user/{operator.pk}/change/"}  # decided (and claimed) by
    assert client.get(user_page_links(page)[0]).status_code == 200


def test_import_and_media_pages_link_their_user_only_for_readers_who_may_view_users(
    client, operator, admin_user, settings
):
    run = Import.objects.create(
        bucket="b", key="incoming/orders/x.csv", version="v1", chunk_bytes=1024, created_by=admin_user
    )
    asset = MediaAsset.objects.create(
        file="media/shelf.png", original_name="shelf.png", content_type="image/png", uploaded_by=admin_user
    )
    pages = [f"/orders/import/{run.pk}/change/", f"/media/mediaasset/{asset.pk}/change/"]
    client.force_login(operator)
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.content.decode()
        assert "ada-admin" in page and user_page_links(page) == [], url
    client.force_login(admin_user)
    for url in pages:
        assert user_page_links(client.get(url).content.decode()) == [f"/auth/user/{admin_user.pk}/change/"], url


def test_every_console_page_of_a_model_with_users_uses_the_reader_checked_links():
    user_model = get_user_model()
    unchecked = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if model is not user_model
        and any(f.many_to_one and f.related_model is user_model for f in model._meta.fields)
        and not isinstance(model_admin, UserLinksMixin)
        and model._meta.app_label in {"console", "orders", "workflows", "media", "ops"}
    ]
    assert unchecked == []


def test_a_refusal_is_a_console_page_that_says_what_was_refused_and_where_to_go(client, support_user):
    approval = make_pending_approval("refused")
    client.force_login(support_user)
    response = client.get(
        reverse("admin:workflows_approval_assign", args=[approval.pk]), HTTP_REFERER="http://testserver/"
    )
    page = response.content.decode()
    assert response.status_code == 403
    assert "Operations console" in page  # the console's header, not Django's bare "403 Forbidden"
    assert "You may not decide approvals." in page
    assert 'href="http://testserver/"' in page and "Back to the previous page" in page
    assert "Go to the console&#x27;s home page" in page or "Go to the console's home page" in page

    # Django's own refusals inside the admin (no message): the page names what was refused.
    page = client.get(f"/auth/user/{support_user.pk}/change/").content.decode()
    assert f"/auth/user/{support_user.pk}/change/" in page and "may not open this page" in page
    assert re.search(r"<script(?![^>]*\bsrc=)", page) is None or "nonce" in page  # no unnonced inline script


def test_a_refusal_under_the_api_keeps_the_problem_shape(client, operator):
    from django.test import RequestFactory

    from console.pages.errors import permission_denied

    response = permission_denied(RequestFactory().get("/api/orders"), None)
    assert response.status_code == 403 and response["Content-Type"].startswith("application/json")


def test_an_approvals_history_shows_its_request_claims_and_decisions(client, operator, decided_approval):
    audit_record(action="approval.reject", obj=decided_approval, actor=operator, reason="fraud")
    client.force_login(operator)
    response = client.get(reverse("admin:workflows_approval_history", args=[decided_approval.pk]))
    page = response.content.decode()
    assert response.status_code == 200
    assert "doesn’t have a change history" not in page and "Nothing has happened" not in page
    actions = re.findall(r'<tr class="history-row">.*?<td>.*?</td>\s*<td>([a-z_.]+)[ <]', page, re.S)
    assert actions == ["approval.request", "approval.claim", "approval.reject"]
    assert "fraud" in page and "olivia-operator" in page
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", page)  # seconds, as the audit log shows them
