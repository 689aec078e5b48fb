"""A second factor for console logins: staff enrol an authenticator app from the console,
give its code after the password, and admins can be required to. Codes here are computed
by the test from the secret the page shows (RFC 6238), as an authenticator app would."""

import base64
import hashlib
import hmac
import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from console.models import AuditEntry
from console.platform import roles
from tests.conftest import make_user

pytestmark = pytest.mark.django_db
SETUP = "/account/two-factor/"
VERIFY = "/account/two-factor/verify/"


def totp(secret_b32: str, at: float | None = None, step: int = 30, digits: int = 6) -> str:
    """The code an authenticator app shows at ``at`` (RFC 6238, HMAC-SHA1)."""
    key = base64.b32decode(secret_b32)
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, counter.to_bytes(8, "big"), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = (int.from_bytes(mac[offset : offset + 4], "big") & 0x7FFFFFFF) % 10**digits
    return f"{code:0{digits}d}"


def log_in(user, next_path: str = "/") -> Client:
    client = Client()
    response = client.post(f"/login/?next={next_path}", {"username": user.username, "password": "x-" + user.username})
    assert response.status_code == 302, response.content[:300]
    return client


def enrol(client) -> str:
    """Enrols an authenticator through the page as a person would; returns its secret."""
    assert client.post(SETUP, {"action": "start"}).status_code == 302
    page = client.get(SETUP).content.decode()
    secret = re.search(r'id="two-factor-secret">([A-Z2-7=]+)<', page).group(1)
    response = client.post(SETUP, {"action": "confirm", "token": totp(secret)})
    assert response.status_code == 302, response.content.decode()[:2000]
    return secret


def next_code(user, secret_b32: str) -> str:
    """A code the device has not used yet: the window after the one it last accepted.

    It is within the device's tolerance of one step whatever the clock's position in the
    current 30 s window, so the test does not depend on when it runs.
    """
    device = TOTPDevice.objects.get(user=user)
    return totp(secret_b32, (device.last_t + 1) * device.step + device.t0)


@pytest.fixture
def operator_user(db):
    return make_user("otto-operator", roles.OPERATOR)


def test_enrolment_shows_the_uri_qr_and_secret_and_needs_a_right_code(operator_user):
    client = log_in(operator_user)
    assert "Two-factor authentication is <strong>off</strong>" in client.get(SETUP).content.decode()
    assert not TOTPDevice.objects.exists()  # a GET creates nothing
    client.post(SETUP, {"action": "start"})
    page = client.get(SETUP).content.decode()
    secret = re.search(r'id="two-factor-secret">([A-Z2-7=]+)<', page).group(1)
    uri = re.search(r'id="two-factor-uri">([^<]+)<', page).group(1)
    assert uri.startswith("otpauth://totp/Ops%20console%3Aotto-operator?") and f"secret={secret}" in uri
    assert '<div class="two-factor-qr" id="two-factor-qr"><svg' in page

    wrong = client.post(SETUP, {"action": "confirm", "token": "000000" if totp(secret) != "000000" else "111111"})
    assert wrong.status_code == 200 and "not right" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(confirmed=True).exists()

    time.sleep(1.1)  # django-otp's throttle: one second after a wrong code
    assert client.post(SETUP, {"action": "confirm", "token": totp(secret)}).status_code == 302
    device = TOTPDevice.objects.get(user=operator_user)
    assert device.confirmed
    entry = AuditEntry.objects.get(action="auth.user.two_factor_enrol")
    assert entry.actor == operator_user and entry.object_id == str(operator_user.pk)
    assert client.get("/").status_code == 200  # this session counts as verified


def test_after_the_password_the_console_asks_for_the_code(operator_user):
    secret = enrol(log_in(operator_user))
    client = log_in(operator_user, next_path="/orders/order/")
    response = client.get("/orders/order/")
    assert response.status_code == 302 and response["Location"].startswith(f"{VERIFY}?next=")
    assert client.get("/").status_code == 302
    # The session counts for nothing on the API until the code is given.
    assert client.get("/api/schema").status_code == 401

    wrong = client.post(VERIFY, {"token": "12345x", "next": "/orders/order/"})
    assert wrong.status_code == 200 and "not right" in wrong.content.decode()
    time.sleep(1.1)
    # The enrolment used its window's code: the next one (within the tolerance) is due.
    response = client.post(VERIFY, {"token": next_code(operator_user, secret), "next": "/orders/order/"})
    assert response.status_code == 302 and response["Location"] == "/orders/order/"
    assert client.get("/orders/order/").status_code == 200
    assert client.get("/api/schema").status_code == 200


def test_a_code_works_once_and_wrong_codes_are_throttled(operator_user, settings):
    settings.OTP_TOTP_THROTTLE_FACTOR = 30
    secret = enrol(log_in(operator_user))
    device = TOTPDevice.objects.get(user=operator_user)
    used_at_enrolment = totp(secret, device.last_t * device.step + device.t0)
    client = log_in(operator_user)
    replay = client.post(VERIFY, {"token": used_at_enrolment})
    assert replay.status_code == 200  # already used: refused
    throttled = client.post(VERIFY, {"token": next_code(operator_user, secret)})
    assert throttled.status_code == 200 and "Too many wrong codes" in throttled.content.decode()
    assert client.get("/").status_code == 302


def test_admins_must_enrol_when_required_and_others_need_not(operator_user, admin_user, superuser, settings):
    settings.CONSOLE_REQUIRE_2FA_FOR_ADMINS = True
    assert log_in(operator_user).get("/").status_code == 200
    for user in (admin_user, superuser):
        client = log_in(user)
        response = client.get("/auth/user/")
        assert response.status_code == 302 and response["Location"].startswith(f"{SETUP}?next=")
        assert client.get(VERIFY).status_code == 302  # the setup page is the one to use
        assert "must use two-factor" in client.get(SETUP).content.decode()
        enrol(client)
        assert client.get("/auth/user/").status_code == 200


def test_api_tokens_are_unaffected(admin_user, settings):
    from knox.models import AuthToken

    settings.CONSOLE_REQUIRE_2FA_FOR_ADMINS = True
    token = AuthToken.objects.create(user=admin_user)[1]
    assert Client(HTTP_AUTHORIZATION=f"Bearer {token}").get("/api/schema").status_code == 200


def test_the_owner_removes_it_with_a_current_code(operator_user):
    client = log_in(operator_user)
    secret = enrol(client)
    refused = client.post(SETUP, {"action": "remove", "token": "000001"})
    assert refused.status_code == 200 and TOTPDevice.objects.filter(user=operator_user).exists()
    time.sleep(1.1)
    response = client.post(SETUP, {"action": "remove", "token": next_code(operator_user, secret)})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=operator_user).exists()
    entry = AuditEntry.objects.get(action="auth.user.two_factor_remove")
    assert entry.actor == operator_user and entry.reason == "Removed by its owner"
    assert log_in(operator_user).get("/").status_code == 200  # no code asked any more


def test_an_admin_removes_a_lost_authenticator_of_a_user_it_may_change(operator_user, admin_user, superuser):
    enrol(log_in(operator_user))
    other_admin = make_user("adam-admin", roles.ADMIN)
    enrol(log_in(other_admin))
    admin_client = Client()
    admin_client.force_login(admin_user)
    page = admin_client.get(reverse("admin:auth_user_change", args=[operator_user.pk])).content.decode()
    remove = reverse("admin:auth_user_two_factor_remove", args=[operator_user.pk])
    assert f'formaction="{remove}"' in page
    assert admin_client.get(remove).status_code == 403  # a POST only
    assert admin_client.post(remove).status_code == 302
    assert not TOTPDevice.objects.filter(user=operator_user).exists()
    entry = AuditEntry.objects.get(action="auth.user.two_factor_remove", object_id=str(operator_user.pk))
    assert entry.actor == admin_user

    # Another admin's is a superuser's to remove.
    other = reverse("admin:auth_user_two_factor_remove", args=[other_admin.pk])
    assert admin_client.post(other).status_code == 403
    assert TOTPDevice.objects.filter(user=other_admin).exists()
    superuser_client = Client()
    superuser_client.force_login(superuser)
    assert superuser_client.post(other).status_code == 302
    assert not TOTPDevice.objects.filter(user=other_admin).exists()


def test_the_device_admin_of_django_otp_is_not_in_the_console():
    from django.contrib import admin

    assert not admin.site.is_registered(TOTPDevice)
    assert get_user_model() in admin.site._registry
