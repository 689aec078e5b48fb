"""REST: presigned uploads straight to the local S3 (media assets, and order CSVs for the
orders app's imports: ``tests/orders/imports/test_api.py``), with permissions and the
problem shape for errors."""

import base64
import json

import pytest
import requests
from rest_framework.test import APIClient

from console.aws import clients as aws
from console.platform import roles
from media.models import MediaAsset
from media.services import CSV_CONTENT_TYPES
from tests.conftest import make_user
from tests.orders.imports.conftest import HEADER

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


def test_the_schema_says_which_types_purposes_and_modes_are_accepted_and_documents_every_refusal(api, settings):
    schema = api.get("/api/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    components = schema["components"]["schemas"]

    def resolved(prop: dict) -> dict:
        reference = (prop.get("allOf") or [prop])[0].get("$ref", "")
        return components[reference.rsplit("/", 1)[-1]] if reference else prop

    upload = components["UploadInputRequest"]["properties"]
    accepted = list(dict.fromkeys([*settings.MEDIA_CONTENT_TYPES, *CSV_CONTENT_TYPES]))
    assert resolved(upload["contentType"])["enum"] == accepted
    assert resolved(upload["purpose"])["enum"] == ["media", "orders-csv"]
    assert (
        resolved(upload["mode"])["enum"]
        == resolved(components["ImportCreateInputRequest"]["properties"]["mode"])["enum"]
        == ["workflow", "history"]
    )

    problem = {"$ref": "#/components/schemas/Problem"}
    refusals = {
        ("/api/uploads", "post"): {"400", "403"},
        ("/api/imports", "get"): {"400", "403"},
        ("/api/imports", "post"): {"400", "403", "409"},
        ("/api/imports/{import_id}", "get"): {"403", "404"},
        ("/api/imports/{import_id}/rejected-rows.csv", "get"): {"403", "404"},
    }
    for (path, method), codes in refusals.items():
        responses = schema["paths"][path][method]["responses"]
        for code in codes:
            assert responses[code]["content"]["application/json"]["schema"] == problem, (path, method, code)


# --- Each client its own media assets ----------------------------------------------------------------


@pytest.fixture
def other_client(db) -> APIClient:
    return client_for(make_user("other-shop", roles.API_CLIENT, staff=False))


def test_media_assets_are_scoped_to_their_uploader_unless_seen_by_all(api, api_user, other_client, local_aws):
    from media.selectors import media_assets_visible_to

    def upload_png(client) -> str:
        payload = {"purpose": "media", "filename": "a.png", "contentType": "image/png", "size": len(PNG_1PX)}
        return client.post("/api/uploads", payload, format="json").json()["assetId"]

    mine, theirs = upload_png(api), upload_png(other_client)
    assert [str(a.pk) for a in media_assets_visible_to(user=api_user)] == [mine]
    other = MediaAsset.objects.get(pk=theirs).uploaded_by
    assert [str(a.pk) for a in media_assets_visible_to(user=other)] == [theirs]
    operator = make_user("olga-operator", roles.OPERATOR)
    assert {str(a.pk) for a in media_assets_visible_to(user=operator)} == {mine, theirs}
