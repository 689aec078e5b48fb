"""Console login against password guessing: after 5 failures for a user name or from an
address, logins are refused (429, Retry-After) for a while; the count lives in the
database, which every Lambda instance shares; an admin can lift a lockout (audited)."""

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from console import roles
from console.models import AuditEntry
from tests.conftest import csrf_post, make_user

pytestmark = pytest.mark.django_db


def login(username: str, password: str, address: str = "10.1.1.1"):
    # A new client each time: another browser, or a request served by another instance.
    return Client(REMOTE_ADDR=address).post("/login/", {"username": username, "password": password})


def test_five_wrong_passwords_lock_the_user_out_even_with_the_right_one(operator):
    statuses = [login("olivia-operator", "guess").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 200, 429]  # the form with an error, then the lockout
    locked = login("olivia-operator", "x-olivia-operator")
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == 15 * 60
    assert b"Too many failed logins" in locked.content
    # Counted in the database, not in this process.
    assert AccessAttempt.objects.get(username="olivia-operator").failures_since_start >= 5


def test_guessing_across_user_names_from_one_address_is_stopped_too(operator, support_user):
    for n in range(5):
        login(f"someone-{n}", "guess", address="10.9.9.9")
    assert login("sam-support", "x-sam-support", address="10.9.9.9").status_code == 429
    # Other addresses and users are not affected.
    assert login("sam-support", "x-sam-support", address="10.2.2.2").status_code == 302


def test_a_successful_login_resets_the_count(operator):
    for _ in range(4):
        login("olivia-operator", "guess")
    assert login("olivia-operator", "x-olivia-operator").status_code == 302
    for _ in range(4):
        login("olivia-operator", "guess")
    assert login("olivia-operator", "x-olivia-operator").status_code == 302


def test_an_admin_lifts_a_lockout_and_it_is_audited(operator, console_client):
    for _ in range(5):
        login("olivia-operator", "guess")
    admin = make_user("alice-admin", roles.ADMIN)
    console_client.force_login(admin)
    attempt = AccessAttempt.objects.get(username="olivia-operator")
    url = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
    response = csrf_post(console_client, url, url, {"post": "yes"})
    assert response.status_code == 302
    assert login("olivia-operator", "x-olivia-operator").status_code == 302
    entry = AuditEntry.objects.get(action="axes.accessattempt.delete")
    assert entry.actor == admin and entry.before["username"] == "olivia-operator"
