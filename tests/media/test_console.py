"""Console pages for media: uploads through the storage and their preview. (Order CSV
imports' pages: ``tests/orders/imports/test_console.py``.)"""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from console.aws import clients as aws
from console.platform import roles
from media.models import MediaAsset
from media.services import media_asset_process
from tests.conftest import make_user
from tests.media.test_handlers import png_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user(db):
    return make_user("ada-admin", roles.ADMIN)


def logged_in(console_client, user):
    console_client.force_login(user)
    return console_client


def test_a_console_media_upload_goes_to_s3_through_the_storage(console_client, admin_user, files_bucket):
    client = logged_in(console_client, admin_user)
    page = client.get("/media/mediaasset/add/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    body = png_bytes((300, 200))
    response = client.post(
        "/media/mediaasset/add/",
        {"file": SimpleUploadedFile("shelf.png", body, "image/png"), "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    asset = MediaAsset.objects.get()
    stored = aws.client("s3").get_object(Bucket=files_bucket, Key=asset.key)
    assert stored["Body"].read() == body and asset.status == MediaAsset.Status.PROCESSING

    media_asset_process(bucket=files_bucket, key=asset.key)  # what the S3 event does
    listing = client.get("/media/mediaasset/").content.decode()
    assert "shelf.png" in listing and ".thumb.jpg" in listing
    detail = client.get(response["Location"]).content.decode()
    assert "Open the original" in detail and "X-Amz-Signature" in detail


def test_console_media_upload_refuses_other_content_types(console_client, admin_user, local_aws):
    client = logged_in(console_client, admin_user)
    page = client.get("/media/mediaasset/add/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    response = client.post(
        "/media/mediaasset/add/",
        {"file": SimpleUploadedFile("run.exe", b"MZ", "application/x-msdownload"), "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 400 and "are not accepted" in response.content.decode()
    assert not MediaAsset.objects.exists()


def test_an_empty_media_list_says_how_files_get_there(console_client, admin_user):
    media = logged_in(console_client, admin_user).get("/media/mediaasset/").content.decode()
    assert "No media yet." in media and "POST /api/uploads" in media and "Add media asset" in media
