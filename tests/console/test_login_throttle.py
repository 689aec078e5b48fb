"""Console login against password guessing: after 5 failures for a user name from one
address, that name is refused from that address (429, Retry-After) for a while; the count
lives in the database, which every Lambda instance shares; an admin can lift a lockout
(audited). Keyed on (user name, address): a shared NAT does not lock colleagues out, and
one account's success never resets another's count."""

import pytest
from axes.models import AccessAttempt
from django.test import Client
from django.urls import reverse

from console.models import AuditEntry
from console.platform import roles
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


def test_colleagues_behind_one_address_are_not_locked_out_by_someone_elses_failures(operator, support_user):
    """Shared NAT: one person's five typos lock their own name from that address only."""
    for _ in range(5):
        login("olivia-operator", "guess", address="10.9.9.9")
    assert login("olivia-operator", "x-olivia-operator", address="10.9.9.9").status_code == 429
    assert login("sam-support", "x-sam-support", address="10.9.9.9").status_code == 302
    assert login("sam-support", "guess", address="10.9.9.9").status_code == 200  # a failure, not a lockout


def test_another_accounts_success_does_not_reset_a_users_failures(operator, support_user):
    for _ in range(4):
        login("olivia-operator", "guess", address="10.9.9.9")
    assert login("sam-support", "x-sam-support", address="10.9.9.9").status_code == 302
    assert AccessAttempt.objects.get(username="olivia-operator").failures_since_start == 4
    assert login("olivia-operator", "guess", address="10.9.9.9").status_code == 429  # the fifth


def test_one_user_from_two_addresses_is_counted_per_address(operator):
    for _ in range(4):
        login("olivia-operator", "guess", address="10.1.1.1")
        login("olivia-operator", "guess", address="10.2.2.2")
    assert login("olivia-operator", "guess", address="10.1.1.1").status_code == 429
    assert login("olivia-operator", "x-olivia-operator", address="10.1.1.1").status_code == 429
    # The other address has its own count; its success resets only that one.
    assert login("olivia-operator", "x-olivia-operator", address="10.2.2.2").status_code == 302
    assert not AccessAttempt.objects.filter(username="olivia-operator", ip_address="10.2.2.2").exists()
    assert login("olivia-operator", "x-olivia-operator", address="10.1.1.1").status_code == 429


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
