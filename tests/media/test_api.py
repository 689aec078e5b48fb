"""REST: presigned uploads straight to the local S3, and imports (list, detail, create,
rejected rows), with permissions and the problem shape for errors."""

import base64
import csv
import io
import json

import pytest
import requests
from rest_framework.test import APIClient

from console import aws, roles
from media.models import Import, MediaAsset
from media.services import import_run_inline
from tests.conftest import make_user
from tests.media.conftest import HEADER

pytestmark = pytest.mark.django_db

PNG_1PX = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
)


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def post_form(ticket: dict, body: bytes, filename: str = "f") -> requests.Response:
    return requests.post(ticket["url"], data=ticket["fields"], files={"file": (filename, body)}, timeout=10)


# --- Uploads ---------------------------------------------------------------------------------------


def test_a_presigned_post_uploads_the_file_to_the_key_the_server_chose(api, files_bucket):
    response = api.post(
        "/api/uploads",
        {"purpose": "media", "filename": "../../etc/My photo.png", "contentType": "image/png", "size": len(PNG_1PX)},
        format="json",
    )
    assert response.status_code == 201, response.json()
    ticket = response.json()
    asset = MediaAsset.objects.get(pk=ticket["assetId"])
    assert ticket["key"] == asset.key == f"media/{asset.pk}/My-photo.png"
    assert asset.status == MediaAsset.Status.AWAITING_UPLOAD and asset.uploaded_by.username == "shop-backend"

    # The policy, signed with signature v4, pins bucket, key, content type and size.
    fields = ticket["fields"]
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256" and fields["key"] == ticket["key"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    assert {"bucket": files_bucket} in policy["conditions"]
    assert ["eq", "$key", ticket["key"]] in policy["conditions"]
    assert ["eq", "$Content-Type", "image/png"] in policy["conditions"]
    assert ["content-length-range", 1, 25 * 1024 * 1024] in policy["conditions"]

    assert post_form(ticket, PNG_1PX).status_code == 204
    stored = aws.client("s3").get_object(Bucket=files_bucket, Key=ticket["key"])
    assert stored["Body"].read() == PNG_1PX and stored["ContentType"] == "image/png"


def test_an_order_csv_upload_goes_under_incoming_orders(api, files_bucket):
    response = api.post(
        "/api/uploads",
        {"purpose": "orders-csv", "filename": "may orders", "contentType": "text/csv", "size": 100},
        format="json",
    )
    assert response.status_code == 201
    key = response.json()["key"]
    assert key.startswith("incoming/orders/") and key.endswith("-may-orders.csv")
    assert response.json()["assetId"] is None
    assert post_form(response.json(), HEADER).status_code == 204


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (
            {"purpose": "media", "filename": "x.exe", "contentType": "application/x-msdownload", "size": 10},
            "contentType",
        ),
        ({"purpose": "media", "filename": "big.png", "contentType": "image/png", "size": 26 * 1024 * 1024}, "size"),
        ({"purpose": "media", "filename": "zero.png", "contentType": "image/png", "size": 0}, "size"),
        ({"purpose": "videos", "filename": "x", "contentType": "image/png", "size": 1}, "purpose"),
        ({"purpose": "media", "contentType": "image/png", "size": 1}, "filename"),
    ],
)
def test_upload_requests_breaking_the_limits_are_400_with_the_field(api, payload, field, local_aws):
    response = api.post("/api/uploads", payload, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and field in body["errors"], body
    assert not MediaAsset.objects.exists()


def test_uploads_need_the_permission_of_their_purpose(local_aws):
    support = make_user("sue-support", roles.SUPPORT)
    response = client_for(support).post(
        "/api/uploads",
        {"purpose": "orders-csv", "filename": "a.csv", "contentType": "text/csv", "size": 1},
        format="json",
    )
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert APIClient().post("/api/uploads", {}, format="json").status_code in (401, 403)


# --- Imports ---------------------------------------------------------------------------------------


@pytest.fixture
def finished_import(put_object):
    from media.services import csv_import_object

    info = put_object(HEADER + b"A-1,c,p,n,1,1\nA-2,c,p,n,=1+1,1\n", key="incoming/orders/api-test.csv")
    return import_run_inline(import_id=csv_import_object(info=info, mode="history").pk)


def test_an_import_shows_its_source_status_progress_and_counters(api, finished_import):
    body = api.get(f"/api/imports/{finished_import.pk}").json()
    assert body["importId"] == str(finished_import.pk)
    assert body["source"]["key"] == "incoming/orders/api-test.csv" and body["source"]["etag"]
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


def test_posting_an_uploaded_object_starts_its_import_once(api, put_object):
    put_object(HEADER + b"P-1,c,p,n,1,1\n", key="incoming/orders/posted.csv")
    first = api.post("/api/imports", {"key": "incoming/orders/posted.csv", "mode": "history"}, format="json")
    assert first.status_code == 201 and first.json()["status"] == "PENDING"
    again = api.post("/api/imports", {"key": "incoming/orders/posted.csv"}, format="json")
    assert again.status_code == 200 and again.json()["importId"] == first.json()["importId"]
    assert Import.objects.count() == 1


@pytest.mark.parametrize(
    ("key", "message"),
    [("media/x.csv", "Only objects under"), ("incoming/orders/missing.csv", "No object with this key")],
)
def test_posting_an_object_that_cannot_be_imported_is_a_400(api, local_aws, key, message):
    response = api.post("/api/imports", {"key": key}, format="json")
    assert response.status_code == 400 and message in response.json()["errors"]["key"][0]
