"""GET /api/media and /api/media/{id}: media assets over REST, each client its own, with
presigned links to a ready asset's file and thumbnail that the local S3 serves."""

import pytest
import requests
from knox.models import AuthToken
from rest_framework.test import APIClient

from console.platform import roles
from media.models import MediaAsset
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {AuthToken.objects.create(user=user)[1]}")
    return client


def asset_of(user, name: str = "shelf.png", **fields) -> MediaAsset:
    return MediaAsset.objects.create(
        file=f"media/{name}-{MediaAsset.objects.count()}/{name}",
        original_name=name,
        content_type="image/png",
        uploaded_by=user,
        **fields,
    )


def test_a_client_lists_only_its_own_assets_newest_first(api, api_user):
    other = make_user("other-shop", roles.API_CLIENT, staff=False)
    older, newer = asset_of(api_user, "a.png"), asset_of(api_user, "b.png")
    asset_of(other, "theirs.png")

    body = api.get("/api/media").json()

    assert [a["id"] for a in body["results"]] == [str(newer.pk), str(older.pk)]
    assert body["results"][0]["uploadedBy"] == "shop-backend"
    assert body["results"][0]["status"] == "AWAITING_UPLOAD"


def test_staff_see_every_clients_assets_and_filter_by_status(api_user, operator):
    waiting = asset_of(api_user, "a.png")
    ready = asset_of(make_user("other-shop", roles.API_CLIENT, staff=False), "b.png", status=MediaAsset.Status.READY)
    client = token_client(operator)

    assert {a["id"] for a in client.get("/api/media").json()["results"]} == {str(waiting.pk), str(ready.pk)}
    assert [a["id"] for a in client.get("/api/media?status=READY").json()["results"]] == [str(ready.pk)]


def test_a_ready_asset_comes_with_links_the_bucket_serves(api, api_user, files_bucket, put_object):
    asset = asset_of(api_user, "shelf.png", status=MediaAsset.Status.READY, thumbnail="")
    put_object(b"the picture", key=asset.key, content_type="image/png")
    put_object(b"the thumbnail", key=f"{asset.key}.thumb.jpg", content_type="image/jpeg")
    MediaAsset.objects.filter(pk=asset.pk).update(thumbnail=f"{asset.key}.thumb.jpg")

    body = api.get(f"/api/media/{asset.pk}").json()

    preview = body["preview"]
    assert body["hasThumbnail"] is True and preview["expiresAt"]
    picture = requests.get(preview["url"], timeout=10)
    assert picture.status_code == 200 and picture.content == b"the picture"
    assert 'filename="shelf.png"' in picture.headers["Content-Disposition"]
    assert requests.get(preview["thumbnailUrl"], timeout=10).content == b"the thumbnail"


def test_an_asset_not_ready_has_no_links(api, api_user):
    asset = asset_of(api_user, status=MediaAsset.Status.REJECTED, status_detail="not a PNG")
    body = api.get(f"/api/media/{asset.pk}").json()
    assert body["preview"] == {"url": "", "thumbnailUrl": "", "expiresAt": None}
    assert body["statusDetail"] == "not a PNG"


def test_another_clients_asset_is_missing(api_user):
    asset = asset_of(api_user)
    other = token_client(make_user("other-shop", roles.API_CLIENT, staff=False))
    response = other.get(f"/api/media/{asset.pk}")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


@pytest.mark.parametrize("asset_id", ["nope", "00000000-0000-0000-0000-000000000000"])
def test_unknown_assets_are_404s(api, asset_id):
    assert api.get(f"/api/media/{asset_id}").status_code == 404


@pytest.mark.parametrize(("query", "field"), [("status=LOST", "status"), ("limit=0", "limit")])
def test_bad_filters_are_400s_naming_the_field(api, query, field):
    response = api.get(f"/api/media?{query}")
    assert response.status_code == 400 and field in response.json()["errors"]
