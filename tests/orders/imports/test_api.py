"""REST: order CSV imports (list, detail, create, rejected rows) of objects uploaded with
presigned POSTs (``POST /api/uploads``, the media app's) and reported by S3, with
permissions, one import per object whoever comes first, and the problem shape for errors."""

import csv
import io
from unittest import mock
from urllib.parse import quote_plus

import pytest
from rest_framework.test import APIClient

from console.aws import resources
from console.models import AuditEntry
from console.platform import roles
from media.services import s3_object_created
from orders.imports import services
from orders.imports.models import CsvUpload, Import
from orders.imports.services import csv_import_get_or_create, csv_import_object, import_run_inline, inline_jobs
from orders.lifecycle import OrderStatus
from orders.models import Order
from tests.conftest import make_user
from tests.media.test_api import client_for, post_form
from tests.orders.imports.conftest import HEADER

pytestmark = pytest.mark.django_db


def upload_csv(client: APIClient, body: bytes, **options) -> str:
    """An order CSV uploaded as a REST client does (presigned POST); returns its key."""
    response = client.post(
        "/api/uploads",
        {"purpose": "orders-csv", "filename": "orders.csv", "contentType": "text/csv", "size": len(body), **options},
        format="json",
    )
    assert response.status_code == 201, response.json()
    ticket = response.json()
    assert post_form(ticket, body).status_code == 204
    return ticket["key"]


def s3_reports(key: str) -> Import:
    """What the files-events queue's S3 event does with the object (the key URL-encoded):
    the media app hands it to the import."""
    assert s3_object_created(bucket=resources.files_bucket(), key=quote_plus(key, safe="/")) == "import"
    return Import.objects.get(key=key, dry_run=False)


@pytest.fixture
def other_client(db) -> APIClient:
    return client_for(make_user("other-shop", roles.API_CLIENT, staff=False))


@pytest.fixture
def admin_client(db) -> APIClient:
    return client_for(make_user("ada-admin", roles.ADMIN))


@pytest.fixture
def finished_import(api, files_bucket):
    key = upload_csv(api, HEADER + b"A-1,c,p,n,1,1\nA-2,c,p,n,=1+1,1\n")
    return import_run_inline(import_id=s3_reports(key).pk)


def test_an_import_shows_its_source_status_progress_and_counters(api, finished_import):
    body = api.get(f"/api/imports/{finished_import.pk}").json()
    assert body["importId"] == str(finished_import.pk)
    assert body["source"]["key"] == finished_import.key and body["source"]["etag"]
    assert body["status"] == "PARTIAL"
    assert body["progress"] == {
        "percent": 100,
        "phase": "DONE",
        "chunksDone": 1,
        "chunksTotal": 1,
        "bytesDone": finished_import.size - len(HEADER),
        "bytesTotal": finished_import.size,
    }
    assert (body["rowsTotal"], body["rowsIngested"], body["rowsRejected"], body["ordersCreated"]) == (2, 1, 1, 1)
    assert body["rejectedRowsUrl"].endswith(f"/api/imports/{finished_import.pk}/rejected-rows.csv")
    assert body["preview"][1]["problem"] == "quantity is not a whole number"

    listed = api.get("/api/imports?status=PARTIAL").json()
    assert [item["importId"] for item in listed["results"]] == [str(finished_import.pk)]
    assert api.get("/api/imports?status=SUCCEEDED").json()["results"] == []


def test_the_rejected_rows_download_as_csv_with_formulas_neutralised(api, finished_import):
    response = api.get(f"/api/imports/{finished_import.pk}/rejected-rows.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[1] == ["3", "quantity", "quantity is not a whole number", "A-2", "c", "p", "n", "'=1+1", "1"]


def test_imports_are_readable_by_support_and_hidden_from_users_without_the_permission(finished_import):
    support = make_user("sue-support", roles.SUPPORT)
    assert client_for(support).get(f"/api/imports/{finished_import.pk}").status_code == 200
    nobody = make_user("nobody", None)
    assert client_for(nobody).get("/api/imports").status_code == 403
    assert client_for(nobody).get(f"/api/imports/{finished_import.pk}/rejected-rows.csv").status_code == 403


def test_unknown_or_malformed_import_ids_are_404(api, local_aws):
    assert api.get("/api/imports/1d6a7f9c-0000-4000-8000-000000000000").status_code == 404
    assert api.get("/api/imports/not-an-id").json()["code"] == "not_found"


def test_posting_an_uploaded_object_starts_its_import_once(api, files_bucket):
    key = upload_csv(api, HEADER + b"P-1,c,p,n,1,1\n")
    first = api.post("/api/imports", {"key": key, "mode": "workflow"}, format="json")
    assert first.status_code == 201 and first.json()["status"] == "PENDING"
    again = api.post("/api/imports", {"key": key}, format="json")
    assert again.status_code == 200 and again.json()["importId"] == first.json()["importId"]
    assert s3_reports(key).pk == Import.objects.get().pk  # the S3 event finds the same import


def test_posting_an_object_outside_the_import_prefixes_is_a_400(api, local_aws):
    response = api.post("/api/imports", {"key": "media/x.csv"}, format="json")
    assert response.status_code == 400 and "Only objects under" in response.json()["errors"]["key"][0]


def test_posting_an_upload_whose_file_never_arrived_is_a_400(api, files_bucket):
    ticket = api.post(
        "/api/uploads",
        {"purpose": "orders-csv", "filename": "late.csv", "contentType": "text/csv", "size": 10},
        format="json",
    ).json()
    response = api.post("/api/imports", {"key": ticket["key"]}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"]["key"] == ["No object with this key in the files bucket."]


# --- Each client its own imports ---------------------------------------------------------------------


def test_an_api_client_sees_and_acts_on_only_its_own_imports(api, other_client, finished_import):
    mine = str(finished_import.pk)
    theirs = import_run_inline(import_id=s3_reports(upload_csv(other_client, HEADER + b"O-1,c,p,n,1,x\n")).pk)
    assert theirs.created_by.username == "other-shop"  # the S3 event's import is the uploader's

    assert [item["importId"] for item in api.get("/api/imports").json()["results"]] == [mine]
    assert [item["importId"] for item in other_client.get("/api/imports").json()["results"]] == [str(theirs.pk)]
    assert api.get(f"/api/imports?key={theirs.key}").json()["results"] == []
    # Someone else's import is answered as if it did not exist.
    for path in (f"/api/imports/{theirs.pk}", f"/api/imports/{theirs.pk}/rejected-rows.csv"):
        response = api.get(path)
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    assert other_client.get(f"/api/imports/{theirs.pk}/rejected-rows.csv").status_code == 200

    # Console staff see every client's imports.
    support = client_for(make_user("sue-support", roles.SUPPORT))
    assert {item["importId"] for item in support.get("/api/imports").json()["results"]} == {mine, str(theirs.pk)}


def test_an_api_client_may_not_import_an_object_another_client_uploaded(api, other_client, admin_client, files_bucket):
    key = upload_csv(other_client, HEADER + b"X-1,c,p,n,1,1\n")

    response = api.post("/api/imports", {"key": key}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert response.json()["errors"]["key"] == ["This client may import only objects it uploaded (POST /api/uploads)."]
    assert not Import.objects.exists()

    assert other_client.post("/api/imports", {"key": key}, format="json").status_code == 201
    # An admin may import any object (orders.view_all_imports).
    assert admin_client.post("/api/imports", {"key": key}, format="json").status_code == 200


# --- History mode: an admin's decision ----------------------------------------------------------------


def test_history_mode_is_refused_to_an_api_client_and_nothing_is_imported_as_decided(api, files_bucket):
    # The reported case: upload, then ask for history before the S3 event creates the import.
    key = upload_csv(api, HEADER + b"BIG-1,c,p,n,1,999999\n")
    response = api.post("/api/imports", {"key": key, "mode": "history"}, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert "orders.import_history" in response.json()["errors"]["mode"][0]
    assert not Import.objects.exists()

    import_run = import_run_inline(import_id=s3_reports(key).pk)
    assert import_run.mode == Import.Mode.WORKFLOW and import_run.created_by.username == "shop-backend"
    assert Order.objects.get().status == OrderStatus.CREATED  # it waits for its workflow and approval

    # Asking at upload time is refused the same way, before anything is recorded.
    refused = api.post(
        "/api/uploads",
        {"purpose": "orders-csv", "filename": "h.csv", "contentType": "text/csv", "size": 9, "mode": "history"},
        format="json",
    )
    assert refused.status_code == 403 and "orders.import_history" in refused.json()["errors"]["mode"][0]
    assert CsvUpload.objects.count() == 1


def test_an_admin_imports_as_history_and_the_decision_is_audited(admin_client, files_bucket):
    key = upload_csv(admin_client, HEADER + b"H-1,c,p,n,1,999999\n", mode="history")
    import_run = import_run_inline(import_id=s3_reports(key).pk)  # the upload's choice, taken by the S3 event
    assert import_run.mode == Import.Mode.HISTORY and import_run.options_fixed
    assert Order.objects.get().status == OrderStatus.APPROVED
    entry = AuditEntry.objects.get(action="import.history", object_id=str(import_run.pk))
    assert entry.actor_name == "ada-admin" and "no approval" in entry.reason


# --- One import per object, whoever comes first --------------------------------------------------------


def test_s3_event_first_then_an_admin_asking_for_history_while_it_waits_sets_it_once(api, admin_client, files_bucket):
    key = upload_csv(api, HEADER + b"R-1,c,p,n,1,1\n")
    by_event = s3_reports(key)
    assert (by_event.mode, by_event.options_fixed, by_event.status) == ("workflow", False, "PENDING")

    response = admin_client.post("/api/imports", {"key": key, "mode": "history"}, format="json")
    assert response.status_code == 200 and response.json()["importId"] == str(by_event.pk)
    assert response.json()["mode"] == "history" and Import.objects.count() == 1
    change = AuditEntry.objects.get(action="import.options", object_id=str(by_event.pk))
    assert (change.before, change.after, change.actor_name) == ({"mode": "workflow"}, {"mode": "history"}, "ada-admin")

    # Chosen now: a later request naming another mode changes nothing, and says so.
    again = admin_client.post("/api/imports", {"key": key, "mode": "workflow"}, format="json")
    assert again.status_code == 409 and "cannot change" in again.json()["errors"]["mode"][0]
    assert import_run_inline(import_id=by_event.pk).mode == "history"
    assert Order.objects.get().status == OrderStatus.APPROVED


def test_s3_event_first_then_history_asked_once_the_import_runs_is_a_409(api, admin_client, files_bucket):
    key = upload_csv(api, HEADER + b"R-1,c,p,n,1,1\n")
    import_run = import_run_inline(import_id=s3_reports(key).pk)  # started and finished

    response = admin_client.post("/api/imports", {"key": key, "mode": "history"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    assert "has started keeps its options" in response.json()["errors"]["mode"][0]
    import_run.refresh_from_db()
    assert import_run.mode == "workflow" and Order.objects.get().status == OrderStatus.CREATED
    assert not AuditEntry.objects.filter(action__in=["import.options", "import.history"]).exists()


def test_the_api_first_then_the_s3_event_keeps_the_mode_the_api_chose(admin_client, files_bucket):
    key = upload_csv(admin_client, HEADER + b"R-1,c,p,n,1,1\n")
    created = admin_client.post("/api/imports", {"key": key, "mode": "history"}, format="json")
    assert created.status_code == 201

    by_event = s3_reports(key)
    assert str(by_event.pk) == created.json()["importId"] and Import.objects.count() == 1
    assert by_event.mode == "history" and by_event.created_by.username == "ada-admin"
    assert import_run_inline(import_id=by_event.pk).orders_created == 1


def test_when_both_create_at_once_the_loser_finds_the_winners_import(admin_client, files_bucket):
    """The S3 event inserts its import between this request's look-up and its insert: the
    unique key refuses the second row, and the request settles on the first."""

    key = upload_csv(admin_client, HEADER + b"R-1,c,p,n,1,1\n")
    real_lookup = services._existing_import
    calls = []

    def the_event_wins_meanwhile(info):
        calls.append(info.key)
        if len(calls) == 1:
            s3_reports(key)  # the S3 event, handled between the look-up and the insert
            return None
        return real_lookup(info)

    with mock.patch.object(services, "_existing_import", side_effect=the_event_wins_meanwhile):
        response = admin_client.post("/api/imports", {"key": key, "mode": "history"}, format="json")
    assert response.status_code == 200 and Import.objects.count() == 1
    assert Import.objects.get().mode == "history"  # the request named it while the import waited


def race(*calls) -> list:
    """Run the calls at the same moment, each in its own thread (and database connection),
    with jobs not queued; returns what each returned (or raised)."""
    import threading

    from django.db import connection

    start, results = threading.Barrier(len(calls)), [None] * len(calls)

    def run(index, call):
        try:
            with inline_jobs():
                start.wait()
                results[index] = call()
        except Exception as exc:  # returned to the test
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index, call)) for index, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def after(seconds: float, function, **kwargs):
    """``function(**kwargs)`` a moment later: which racer wins is then up to the test."""
    import time

    time.sleep(seconds)
    return function(**kwargs)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_s3_event_and_an_admin_racing_for_real_agree_on_one_import_in_the_mode_the_admin_chose(put_object):
    from functools import partial

    admin = make_user("ada-admin", roles.ADMIN)
    winners = set()
    for round_number, (event_delay, admin_delay) in enumerate([(0, 0), (0.05, 0), (0, 0.05)] * 3):
        info = put_object(HEADER + b"R-1,c,p,n,1,1\n", key=f"incoming/orders/race-{round_number}.csv")
        results = race(
            partial(after, event_delay, csv_import_object, info=info),
            partial(after, admin_delay, csv_import_get_or_create, info=info, actor=admin, mode="history"),
        )
        assert not [result for result in results if isinstance(result, Exception)], results
        by_event, (by_admin, _) = results
        assert by_event.pk == by_admin.pk
        (import_run,) = Import.objects.filter(key=info.key)
        assert import_run.mode == "history" and import_run.options_fixed
        winners.add(AuditEntry.objects.get(action="import.start", object_id=str(import_run.pk)).actor_name)
    assert winners == {"", "ada-admin"}  # each created the import first at least once


def test_the_import_list_pages_like_every_list_and_refuses_what_it_did_not_make(api):
    for query, field in (({"limit": 201}, "limit"), ({"limit": 0}, "limit"), ({"cursor": "made-up"}, "cursor")):
        response = api.get("/api/imports", query)
        assert response.status_code == 400 and field in response.json()["errors"], (query, response.content)
    page = api.get("/api/imports", {"limit": 200}).json()
    assert set(page) == {"next", "previous", "results"}


def test_an_import_the_s3_event_creates_is_the_uploaders_named_as_their_file_under_their_request(api, files_bucket):
    response = api.post(
        "/api/uploads",
        {"purpose": "orders-csv", "filename": "week 21.csv", "contentType": "text/csv", "size": 27},
        format="json",
        HTTP_X_REQUEST_ID="req-upload-21",
    )
    assert response.status_code == 201
    ticket = response.json()
    assert post_form(ticket, HEADER[:27]).status_code == 204  # the header's first 27 bytes: size as declared

    import_run = s3_reports(ticket["key"])  # no request here: the S3 event, on the upload's behalf
    assert import_run.original_name == "week 21.csv" and "week" in import_run.key
    assert import_run.created_by.username == "shop-backend" and import_run.correlation_id == "req-upload-21"
    started = AuditEntry.objects.get(action="import.start", object_id=str(import_run.pk))
    assert (started.actor_name, started.source, started.request_id) == (
        "shop-backend",
        AuditEntry.Source.API,
        "req-upload-21",
    )
    assert api.get(f"/api/imports/{import_run.pk}").json()["source"]["key"] == ticket["key"]


def test_an_object_put_in_the_bucket_directly_is_the_systems_import(files_bucket, put_object):
    info = put_object(HEADER + b"D-1,c,p,n,1,1\n", key="incoming/orders/direct.csv")
    import_run = s3_reports(info.key)
    assert import_run.created_by is None and import_run.original_name == "direct.csv"
    started = AuditEntry.objects.get(action="import.start", object_id=str(import_run.pk))
    assert (started.actor_name, started.source) == ("", AuditEntry.Source.SYSTEM)
