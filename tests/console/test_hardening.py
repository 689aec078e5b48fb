"""Console hardening: a content security policy without inline scripts (but those carrying
the response's nonce), sessions that end when idle and after a maximum age, and a login
whose refused ``next`` lands on the console's home."""

import re
import time
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from console.platform.access import SESSION_STARTED_KEY

pytestmark = pytest.mark.django_db


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split("; ")}


def test_the_policy_allows_scripts_only_from_us_or_with_the_nonce(admin_user):
    client = Client()
    client.force_login(admin_user)
    for path in ("/login/", "/", reverse("admin:auth_user_change", args=[admin_user.pk]), "/api/docs"):
        response = (Client() if path == "/login/" else client).get(path)
        assert response.status_code == 200, path
        rules = policy(response)
        assert rules["script-src"][0] == "'self'" and len(rules["script-src"]) in (1, 2), path
        assert "'unsafe-inline'" not in rules["script-src"] and "'unsafe-eval'" not in rules["script-src"]
        assert rules["object-src"] == ["'none'"] and rules["frame-ancestors"] == ["'none'"]
        assert rules["base-uri"] == ["'none'"] and rules["form-action"] == ["'self'"]


def test_every_inline_script_on_our_pages_carries_the_nonce_and_no_element_has_an_event_handler(admin_user):
    client = Client()
    client.force_login(admin_user)
    pages = ["/", "/login/", "/api/docs", "/auth/user/", reverse("admin:auth_user_change", args=[admin_user.pk])]
    pages += ["/orders/order/", "/workflows/approval/", "/account/two-factor/", "/console/auditentry/"]
    for path in pages:
        response = (Client() if path == "/login/" else client).get(path)
        assert response.status_code == 200, path
        html = response.content.decode()
        allowed = re.findall(r"'nonce-([^']+)'", response["Content-Security-Policy"])
        for attributes in re.findall(r"<script\b([^>]*)>", html):
            if "src=" in attributes or 'type="application/json"' in attributes:
                continue
            nonce = re.search(r'nonce="([^"]+)"', attributes)
            assert nonce and nonce.group(1) in allowed, f"{path}: inline <script{attributes}> without the nonce"
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), f"{path}: an inline event handler"
        assert "javascript:" not in html, path


def test_the_swagger_page_runs_its_inline_setup_with_the_nonce(admin_user):
    client = Client()
    client.force_login(admin_user)
    response = client.get("/api/docs")
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    assert f'<script nonce="{nonce}">' in response.content.decode()
    assert "SwaggerUIBundle(" in response.content.decode()


def test_thumbnails_of_the_files_bucket_are_allowed_images(settings):
    from console.settings.base import content_security_policy

    local = content_security_policy("http://127.0.0.1:5000")
    assert "http://127.0.0.1:*" in local["img-src"]
    aws = content_security_policy(None)
    assert "https://*.s3.amazonaws.com" in aws["img-src"]


# --- Sessions ------------------------------------------------------------------------------


def test_sessions_end_when_idle_and_every_request_renews_them(admin_user, settings):
    assert settings.SESSION_COOKIE_AGE == settings.CONSOLE_SESSION_IDLE_SECONDS == 3600
    assert settings.SESSION_SAVE_EVERY_REQUEST
    client = Client()
    client.force_login(admin_user)
    key = client.cookies[settings.SESSION_COOKIE_NAME].value
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(minutes=5))
    assert client.get("/").status_code == 200
    renewed = Session.objects.get(session_key=key).expire_date
    assert renewed > timezone.now() + timedelta(minutes=59)  # a request pushed it an idle period away

    Session.objects.filter(session_key=key).update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_a_session_ends_at_its_maximum_age_however_active(admin_user, settings):
    client = Client()
    client.force_login(admin_user)
    assert client.get("/").status_code == 200
    session = client.session
    session[SESSION_STARTED_KEY] = int(time.time()) - settings.CONSOLE_SESSION_MAX_SECONDS - 1
    session.save()
    response = client.get("/")
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert client.get("/").status_code == 302  # logged out, not only redirected once


def test_the_session_limits_are_settings(admin_user, settings):
    settings.CONSOLE_SESSION_MAX_SECONDS = 60
    client = Client()
    client.force_login(admin_user)
    assert client.get("/").status_code == 200
    session = client.session
    session[SESSION_STARTED_KEY] = int(time.time()) - 61
    session.save()
    assert client.get("/").status_code == 302


# --- Login redirect --------------------------------------------------------------------------


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", ""])
def test_a_login_with_a_refused_or_missing_next_lands_on_the_console_home(admin_user, next_url):
    response = Client().post(
        "/login/?" + (f"next={next_url}" if next_url else ""), {"username": "alice-admin", "password": "x-alice-admin"}
    )
    assert response.status_code == 302 and response["Location"] == "/"


def test_a_login_with_a_next_on_the_site_goes_there(admin_user):
    response = Client().post("/login/?next=/orders/order/", {"username": "alice-admin", "password": "x-alice-admin"})
    assert response["Location"] == "/orders/order/"
