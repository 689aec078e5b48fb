"""The failed-jobs REST API (ops/apis/failed_jobs.py): list and search by argument in cursor
pages, retry and discard one or in bulk, problems for what cannot be done, the schema."""

import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group

from console.models import AuditEntry
from console.platform import roles
from console.runtime import jobs
from ops.failures import task_failure_record
from ops.models import TaskFailure
from orders.services import order_create
from tests.conftest import make_user, wait_for


def _order():
    return order_create(
        user_id="failed-jobs-api",
        items=[{"product_id": "p1", "name": "Widget", "quantity": 1, "price": Decimal("5.00")}],
        start_workflow=False,
    )


def _failure(task="orders.export_to_file", args=(), will_retry=False) -> TaskFailure:
    return task_failure_record(
        task_id=str(uuid.uuid4()),
        task=task,
        error_type="ExportRefused",
        error="may no longer export orders",
        traceback="Traceback ...",
        retries=0,
        args=list(args),
        will_retry=will_retry,
    )


@pytest.mark.django_db
def test_support_searches_failed_jobs_by_an_order_id_in_cursor_pages(support_api):
    order = _order()
    about = [_failure(args=[1, f"q={order.pk}", "a.csv"]) for _ in range(3)]
    _failure(args=[2, "q=else", "b.csv"])
    _failure(args=[str(order.pk)], will_retry=True)  # still retried by Celery: not failed for good

    first = support_api.get("/api/failed-jobs", {"text": str(order.pk), "limit": 2}).json()
    rest = support_api.get(first["next"]).json()

    ids = [job["id"] for job in first["results"] + rest["results"]]
    assert sorted(ids) == sorted(f.pk for f in about) and rest["next"] is None
    job = first["results"][0]
    assert job["task"] == "orders.export_to_file" and job["args"][1] == f"q={order.pk}"
    assert job["status"] == "failed" and job["attempts"] == 1 and job["orderId"] == str(order.pk)
    assert (job["errorType"], job["traceback"]) == ("ExportRefused", "Traceback ...")

    every = support_api.get("/api/failed-jobs", {"order": str(order.pk), "status": "all"}).json()["results"]
    assert len(every) == 4
    assert support_api.get(f"/api/failed-jobs/{about[0].pk}").json()["id"] == about[0].pk

    bad = support_api.get("/api/failed-jobs", {"status": "gone", "order": "not-an-id"}).json()
    assert bad["status"] == 400 and set(bad["errors"]) == {"status", "order"}
    assert support_api.get("/api/failed-jobs/999999999").status_code == 404


@pytest.mark.django_db
def test_discard_one_then_again_is_a_conflict_and_each_is_audited(support_api, support):
    failure = _failure()

    done = support_api.post(f"/api/failed-jobs/{failure.pk}/discard", {"reason": "known bug"}, format="json")
    again = support_api.post(f"/api/failed-jobs/{failure.pk}/discard", {}, format="json")

    assert done.status_code == 200 and done.json()["status"] == "discarded"
    assert done.json()["resolvedBy"] == support.username and done.json()["resolution"] == "known bug"
    assert again.status_code == 409 and again.json()["detail"].startswith("Already discarded")
    entry = AuditEntry.objects.get(action="job.discard")
    assert (entry.actor, entry.source, entry.reason) == (support, AuditEntry.Source.API, "known bug")


@pytest.mark.django_db
def test_bulk_discard_by_filter_and_by_ids_reports_what_it_left(support_api):
    chosen = [_failure(task="orders.export_to_file") for _ in range(2)]
    other = _failure(task="ops.redrive_run")
    retrying = _failure(will_retry=True)

    by_filter = support_api.post(
        "/api/failed-jobs/discard", {"filter": {"task": "orders.export_to_file"}}, format="json"
    ).json()
    assert sorted(job["id"] for job in by_filter["done"]) == sorted(f.pk for f in chosen)
    assert by_filter["refused"] == [] and by_filter["remaining"] == 0

    by_ids = support_api.post("/api/failed-jobs/discard", {"ids": [retrying.pk, 987654321]}, format="json").json()
    assert by_ids["done"] == []
    assert {r["id"] for r in by_ids["refused"]} == {retrying.pk, 987654321}

    both = support_api.post("/api/failed-jobs/discard", {"ids": [other.pk], "filter": {}}, format="json")
    assert both.status_code == 400 and "ids" in both.json()["errors"]
    other.refresh_from_db()
    assert other.status == TaskFailure.Status.FAILED
    assert AuditEntry.objects.filter(action="job.discard").count() == 2


@pytest.mark.django_db
def test_clients_without_the_permissions_are_refused(api):
    failure = _failure()
    assert api.get("/api/failed-jobs").status_code == 403
    refused = api.post(f"/api/failed-jobs/{failure.pk}/retry", {}, format="json")
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert api.post("/api/failed-jobs/discard", {"ids": [failure.pk]}, format="json").status_code == 403
    failure.refresh_from_db()
    assert failure.status == TaskFailure.Status.FAILED


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_retry_through_the_api_runs_the_job_again_and_resolves_it(stack, support_api):
    exporter = make_user("fj-api-exporter", None)
    task_id = jobs.enqueue("orders.export_to_file", exporter.pk, "", f"exports/orders/{uuid.uuid4()}.csv")
    failure = wait_for(
        lambda: TaskFailure.objects.filter(task_id=task_id, status="failed").first(), timeout=60, what="the failure"
    )
    exporter.groups.add(Group.objects.get(name=roles.OPERATOR))

    retried = support_api.post(f"/api/failed-jobs/{failure.pk}/retry", {"reason": "role back"}, format="json")

    assert retried.status_code == 200
    body = retried.json()
    assert body["status"] == "retried" and body["retryTaskId"] and body["retriedBy"] == "sue-support"
    resolved = wait_for(
        lambda: support_api.get(f"/api/failed-jobs/{failure.pk}").json()["status"] == "resolved",
        timeout=60,
        what="the retry to succeed",
    )
    assert resolved
    again = support_api.post(f"/api/failed-jobs/{failure.pk}/retry", {}, format="json")
    assert again.status_code == 409 and again.json()["detail"].startswith("Already resolved")


def test_the_failed_jobs_endpoints_are_in_the_openapi_schema(db):
    from drf_spectacular.settings import spectacular_settings

    schema = spectacular_settings.DEFAULT_GENERATOR_CLASS().get_schema(request=None, public=True)
    paths = {path.rstrip("/"): item for path, item in schema["paths"].items()}
    assert paths["/api/failed-jobs"]["get"]["operationId"] == "failed_jobs_list"
    assert {"cursor", "limit", "text", "status", "order", "task"} <= {
        p["name"] for p in paths["/api/failed-jobs"]["get"]["parameters"]
    }
    assert paths["/api/failed-jobs/{failure_id}/retry"]["post"]["operationId"] == "failed_jobs_retry"
    assert {"200", "404", "409", "503"} <= set(paths["/api/failed-jobs/{failure_id}/retry"]["post"]["responses"])
    assert paths["/api/failed-jobs/{failure_id}/discard"]["post"]["operationId"] == "failed_jobs_discard"
    assert paths["/api/failed-jobs/retry"]["post"]["operationId"] == "failed_jobs_retry_bulk"
    assert paths["/api/failed-jobs/discard"]["post"]["operationId"] == "failed_jobs_discard_bulk"
