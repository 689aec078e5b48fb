"""The failed-jobs pages (ops/admin/failed_jobs.py): search by argument, retry and discard
one at a time and in bulk (the selection, or everything matching the filter, after a
confirmation page), each a POST with CSRF, permission-checked and audited per job.

Retries run for real: the stack's consumer plays the worker function on the jobs queue,
where the job failed in the first place."""

import re
import uuid
from decimal import Decimal
from unittest import mock

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from console.models import AuditEntry
from console.platform import roles
from console.runtime import jobs
from ops.failures import task_failure_record
from ops.models import DeadLetter, TaskFailure
from orders.services import order_create
from tests.conftest import csrf_post, make_user, wait_for

CHANGELIST = "admin:ops_taskfailure_changelist"


def _order():
    return order_create(
        user_id="failed-jobs",
        items=[{"product_id": "p1", "name": "Widget", "quantity": 1, "price": Decimal("5.00")}],
        start_workflow=False,
    )


def _failure(task="orders.export_to_file", args=(), status=TaskFailure.Status.FAILED, **kwargs) -> TaskFailure:
    failure = task_failure_record(
        task_id=str(uuid.uuid4()),
        task=task,
        error_type="ExportRefused",
        error="may no longer export orders",
        traceback="Traceback ...",
        retries=0,
        args=list(args),
        will_retry=status == TaskFailure.Status.RETRYING,
        **kwargs,
    )
    return failure


def _client_as(console_client, user):
    console_client.force_login(user)
    return console_client


def _bulk(client, action: str, query: str, data: dict):
    """An admin action posted to the list (its filters in the address), as the page's form does."""
    url = reverse(CHANGELIST) + query
    return csrf_post(client, url, url, {"action": action, "index": "0", **data})


# --- A real failed job, retried -------------------------------------------------------------------


def _failed_export(user, order) -> TaskFailure:
    """An order export queued for someone who may not export: the worker function runs it,
    it fails for good, and the worker records it."""
    task_id = jobs.enqueue("orders.export_to_file", user.pk, f"q={order.pk}", f"exports/orders/{uuid.uuid4()}.csv")
    return wait_for(
        lambda: TaskFailure.objects.filter(task_id=task_id, status=TaskFailure.Status.FAILED).first(),
        timeout=60,
        what="the export job to fail on the worker function",
    )


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_support_finds_a_failed_job_by_its_order_and_retries_it_and_it_resolves(stack, console_client):
    support = make_user("fj-support", roles.SUPPORT)
    exporter = make_user("fj-exporter", None)
    order = _order()
    failure = _failed_export(exporter, order)
    assert failure.order_id == order.pk
    client = _client_as(console_client, support)

    found = client.get(reverse(CHANGELIST), {"q": str(order.pk)})
    assert found.status_code == 200
    assert reverse("admin:ops_taskfailure_change", args=[failure.pk]) in found.content.decode()

    # The cause is fixed (the exporter may export again), then the job is retried.
    exporter.groups.add(Group.objects.get(name=roles.OPERATOR))
    page = reverse("admin:ops_taskfailure_change", args=[failure.pk])
    response = csrf_post(client, page, reverse("admin:ops_taskfailure_retry", args=[failure.pk]), {"reason": "fixed"})
    assert response.status_code == 302

    failure.refresh_from_db()
    assert failure.status == TaskFailure.Status.RETRIED
    assert failure.retried_by == support and failure.retry_task_id
    entry = AuditEntry.objects.get(action="job.retry", object_id=str(failure.pk))
    assert (entry.actor, entry.reason, entry.source) == (support, "fixed", AuditEntry.Source.CONSOLE)
    assert entry.after["retryTaskId"] == failure.retry_task_id

    # The worker function runs the new task; its success resolves the failed job.
    wait_for(
        lambda: TaskFailure.objects.filter(pk=failure.pk, status=TaskFailure.Status.RESOLVED).exists(),
        timeout=60,
        what="the retried job to succeed",
    )
    assert AuditEntry.objects.filter(action="order.export.written").exists()
    shown = client.get(page).content.decode()
    assert "it succeeded" in shown and failure.retry_task_id in shown and "fj-support" in shown
    # Nothing is left to do about it.
    assert reverse("admin:ops_taskfailure_retry", args=[failure.pk]) not in shown


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_retry_that_fails_again_shows_again_and_a_discard_closes_its_dead_letter(stack, console_client):
    support = make_user("fj-support-2", roles.SUPPORT)
    exporter = make_user("fj-exporter-2", None)
    failure = _failed_export(exporter, _order())
    client = _client_as(console_client, support)
    page = reverse("admin:ops_taskfailure_change", args=[failure.pk])

    csrf_post(client, page, reverse("admin:ops_taskfailure_retry", args=[failure.pk]))

    again = wait_for(
        lambda: TaskFailure.objects.filter(retry_of=failure, status=TaskFailure.Status.FAILED).first(),
        timeout=60,
        what="the retry to fail too",
    )
    failure.refresh_from_db()
    assert again.task_id == failure.retry_task_id and again.args == failure.args
    listed = client.get(reverse(CHANGELIST)).content.decode()
    assert reverse("admin:ops_taskfailure_change", args=[again.pk]) in listed
    assert reverse("admin:ops_taskfailure_change", args=[failure.pk]) not in listed  # retried, not failed
    assert "it failed too" in client.get(page).content.decode()

    # Its message reached the jobs queue's DLQ and the archive: discarding closes both.
    dead = wait_for(
        lambda: DeadLetter.objects.filter(task_id=again.task_id).first(), timeout=60, what="the archived dead letter"
    )
    again_page = reverse("admin:ops_taskfailure_change", args=[again.pk])
    csrf_post(client, again_page, reverse("admin:ops_taskfailure_discard", args=[again.pk]), {"reason": "gone"})
    again.refresh_from_db()
    dead.refresh_from_db()
    assert (again.status, again.resolved_by, again.resolution) == (TaskFailure.Status.DISCARDED, support, "gone")
    assert dead.state == DeadLetter.State.DELETED
    assert AuditEntry.objects.get(action="job.discard", object_id=str(again.pk)).after["deadLettersClosed"] == 1


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_retry_in_bulk_of_everything_matching_the_filter_runs_each_job(stack, console_client):
    support = make_user("fj-support-3", roles.SUPPORT)
    exporter = make_user("fj-exporter-3", None)
    order = _order()
    failed = [_failed_export(exporter, order) for _ in range(2)]
    other = _failure(task="ops.archive_drain", args=["not-a-queue"])
    exporter.groups.add(Group.objects.get(name=roles.OPERATOR))
    client = _client_as(console_client, support)

    confirm = _bulk(
        client,
        "retry_selected",
        "?task=orders.export_to_file",
        {"select_across": "1", "_selected_action": failed[0].pk},
    )
    assert confirm.status_code == 200
    text = confirm.content.decode()
    assert re.search(r'class="confirm-count">2<', text)
    upto = re.search(r'name="upto" value="(\d+)"', text).group(1)

    done = _bulk(
        client,
        "retry_selected",
        "?task=orders.export_to_file",
        {"select_across": "1", "_selected_action": failed[0].pk, "confirm": "yes", "upto": upto},
    )
    assert done.status_code == 302

    wait_for(
        lambda: (
            TaskFailure.objects.filter(pk__in=[f.pk for f in failed], status=TaskFailure.Status.RESOLVED).count() == 2
        ),
        timeout=90,
        what="both retries to succeed",
    )
    assert AuditEntry.objects.filter(action="job.retry").count() == 2
    other.refresh_from_db()
    assert other.status == TaskFailure.Status.FAILED


# --- Without the stack ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_list_shows_failed_for_good_by_default_and_searches_the_arguments(client):
    client.force_login(make_user("fj-reader", roles.SUPPORT))
    order = _order()
    about_order = _failure(args=[7, f"q={order.pk}", "k.csv"])
    retrying = _failure(task="workflows.order_workflow_start", args=[str(order.pk)], status="retrying")
    unrelated = _failure(args=[8, "q=other", "k.csv"])

    def listed(**query) -> set[int]:
        response = client.get(reverse(CHANGELIST), query)
        assert response.status_code == 200
        return {int(pk) for pk in re.findall(r"/ops/taskfailure/(\d+)/change/", response.content.decode())}

    assert listed() == {about_order.pk, unrelated.pk}
    assert listed(q=str(order.pk)) == {about_order.pk}
    assert listed(q=str(order.pk), status="all") == {about_order.pk, retrying.pk}
    assert listed(q="other") == {unrelated.pk}
    assert listed(status="retrying") == {retrying.pk}


@pytest.mark.django_db
def test_discard_in_bulk_by_filter_confirms_the_count_and_audits_each_job(console_client):
    support = make_user("fj-bulk", roles.SUPPORT)
    chosen = [_failure(task="orders.export_to_file") for _ in range(3)]
    kept = _failure(task="ops.redrive_run")
    client = _client_as(console_client, support)

    confirm = _bulk(
        client, "discard_selected", "?task=orders.export_to_file", {"select_across": "1", "_selected_action": kept.pk}
    )
    text = confirm.content.decode()
    assert re.search(r'class="confirm-count">3<', text), text
    assert "task orders.export_to_file" in text
    upto = re.search(r'name="upto" value="(\d+)"', text).group(1)
    late = _failure(task="orders.export_to_file")  # arrived after the confirmation: not part of it

    _bulk(
        client,
        "discard_selected",
        "?task=orders.export_to_file",
        {"select_across": "1", "_selected_action": kept.pk, "confirm": "yes", "upto": upto, "reason": "old deploy"},
    )

    statuses = dict(TaskFailure.objects.values_list("pk", "status"))
    assert {statuses[f.pk] for f in chosen} == {TaskFailure.Status.DISCARDED}
    assert statuses[kept.pk] == statuses[late.pk] == TaskFailure.Status.FAILED
    entries = AuditEntry.objects.filter(action="job.discard")
    assert sorted(int(e.object_id) for e in entries) == sorted(f.pk for f in chosen)
    assert {(e.actor, e.reason) for e in entries} == {(support, "old deploy")}


@pytest.mark.django_db
def test_bulk_on_the_selection_leaves_what_may_not_be_discarded_and_says_why(console_client):
    client = _client_as(console_client, make_user("fj-bulk-2", roles.SUPPORT))
    failed, retrying = _failure(), _failure(status="retrying")
    data = {"_selected_action": [failed.pk, retrying.pk]}
    # The list of every status, where both are shown.
    confirm = _bulk(client, "discard_selected", "?status=all", data).content.decode()
    assert "1 of them can be discarded now" in confirm
    upto = re.search(r'name="upto" value="(\d+)"', confirm)

    response = _bulk(client, "discard_selected", "?status=all", {**data, "confirm": "yes", "upto": upto.group(1)})

    messages = [str(m) for m in response.wsgi_request._messages]
    assert "Discarded 1 failed job(s)." in messages
    assert any("1 left as they were: Celery retries this job by itself" in m for m in messages)
    retrying.refresh_from_db()
    assert retrying.status == TaskFailure.Status.RETRYING


@pytest.mark.django_db
def test_only_staff_with_the_permissions_see_or_act_and_every_action_needs_csrf(client, console_client):
    failure = _failure()
    operator = make_user("fj-operator", roles.OPERATOR)
    client.force_login(operator)
    assert client.get(reverse(CHANGELIST)).status_code == 403
    assert client.post(reverse("admin:ops_taskfailure_retry", args=[failure.pk])).status_code == 403
    assert client.post(reverse("admin:ops_taskfailure_discard", args=[failure.pk])).status_code == 403

    # Allowed staff, but no CSRF token: refused before anything happens.
    console_client.force_login(make_user("fj-support-csrf", roles.SUPPORT))
    assert console_client.post(reverse("admin:ops_taskfailure_discard", args=[failure.pk])).status_code == 403
    failure.refresh_from_db()
    assert failure.status == TaskFailure.Status.FAILED
    assert not AuditEntry.objects.filter(action__startswith="job.").exists()
    # A GET changes nothing either.
    assert console_client.get(reverse("admin:ops_taskfailure_retry", args=[failure.pk])).status_code == 405


@pytest.mark.django_db
def test_a_job_that_cannot_be_retried_now_is_refused_with_the_reason(console_client):
    client = _client_as(console_client, make_user("fj-refused", roles.SUPPORT))
    retrying = _failure(status="retrying")
    unknown = _failure(task="tests.no_such_task")

    for failure, reason in [(retrying, "Celery retries this job by itself"), (unknown, "This code has no task")]:
        page = reverse("admin:ops_taskfailure_change", args=[failure.pk])
        response = csrf_post(client, page, reverse("admin:ops_taskfailure_retry", args=[failure.pk]))
        assert any(reason in str(m) for m in response.wsgi_request._messages)
        failure.refresh_from_db()
        assert failure.status != TaskFailure.Status.RETRIED
    assert not AuditEntry.objects.filter(action="job.retry").exists()


@pytest.mark.django_db
def test_a_retry_the_jobs_queue_refuses_changes_nothing_and_is_told(console_client):
    support = make_user("fj-broker", roles.SUPPORT)
    client = _client_as(console_client, support)
    failure = _failure()
    page = reverse("admin:ops_taskfailure_change", args=[failure.pk])

    # The broker's refusal (SQS unreachable) as kombu raises it.
    with mock.patch("console.runtime.jobs.enqueue", side_effect=ConnectionError("SQS unreachable")):
        response = csrf_post(client, page, reverse("admin:ops_taskfailure_retry", args=[failure.pk]))

    assert any("did not take the retry" in str(m) for m in response.wsgi_request._messages)
    failure.refresh_from_db()
    assert (failure.status, failure.retry_task_id, failure.retried_by) == (TaskFailure.Status.FAILED, "", None)
    assert [e.action for e in AuditEntry.objects.order_by("id")] == ["job.retry", "job.retry_not_sent"]


@pytest.mark.django_db
def test_the_list_costs_the_same_queries_for_5_or_40_jobs(client):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    support = make_user("fj-queries", roles.SUPPORT)
    client.force_login(support)
    order = _order()

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse(CHANGELIST), {"status": "all"}).status_code == 200
        return len(captured)

    for n in range(5):
        _failure(args=[n, f"q={order.pk}", "k.csv"])
    few = queries()
    for n in range(35):
        failure = _failure(args=[n, f"q={order.pk}", "k.csv"])
        TaskFailure.objects.filter(pk=failure.pk).update(
            status=TaskFailure.Status.RETRIED, retry_task_id=str(uuid.uuid4()), retried_by=support
        )
    assert queries() == few
