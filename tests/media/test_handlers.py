"""S3 ObjectCreated events (the real AWS sample, directly and as the files-events queue
delivers them) into media processing, and order CSVs handed to the orders app's import."""

import hashlib
import io
import json
from unittest import mock
from urllib.parse import quote_plus

import pytest
from PIL import Image

from console.aws import clients as aws
from media import handlers
from media.models import MediaAsset
from media.services import media_asset_process, thumbnail_key
from orders.imports.models import Import
from tests.aws_samples import aws_event
from tests.orders.imports.conftest import HEADER

pytestmark = pytest.mark.django_db


def s3_event(bucket: str, key: str, size: int = 0) -> dict:
    """The real sample, pointed at an object of ours (the key URL-encoded as S3 sends it)."""
    event = aws_event("s3-object-created.json")
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = bucket
    record["s3"]["bucket"]["arn"] = f"arn:aws:s3:::{bucket}"
    record["s3"]["object"]["key"] = quote_plus(key, safe="/")
    record["s3"]["object"]["size"] = size
    return event


def as_sqs(event: dict, message_id: str = "m-1") -> dict:
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": "r",
                "body": json.dumps(event),
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ops-console-dev-files-events",
            }
        ]
    }


def png_bytes(size=(640, 480)) -> bytes:
    output = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(output, format="PNG")
    return output.getvalue()


def test_the_sample_event_of_another_bucket_is_ignored(local_aws):
    sample = aws_event("s3-object-created.json")
    assert handlers.files_events(sample) == {"batchItemFailures": []}
    assert handlers.files_events(as_sqs(sample)) == {"batchItemFailures": []}
    assert not MediaAsset.objects.exists() and not Import.objects.exists()


def test_an_image_gets_checksum_size_and_a_thumbnail_beside_it(put_object, files_bucket):
    body = png_bytes()
    key = "media/7b4c/Holiday photo (1).png"
    put_object(body, key=key, content_type="image/png")

    assert handlers.files_events(as_sqs(s3_event(files_bucket, key, len(body)))) == {"batchItemFailures": []}

    asset = MediaAsset.objects.get(file=key)  # the URL-encoded key was decoded
    assert asset.status == MediaAsset.Status.READY
    assert asset.size == len(body) and asset.checksum_sha256 == hashlib.sha256(body).hexdigest()
    assert (asset.width, asset.height) == (640, 480)
    assert asset.thumbnail.name == "media/7b4c/Holiday photo (1).thumb.jpg" == thumbnail_key(key)
    thumbnail = aws.client("s3").get_object(Bucket=files_bucket, Key=asset.thumbnail.name)
    with Image.open(io.BytesIO(thumbnail["Body"].read())) as image:
        assert max(image.size) == 256 and image.format == "JPEG"

    # The thumbnail's own event, and the same event again, change nothing.
    processed_at = asset.processed_at
    handlers.files_events(as_sqs(s3_event(files_bucket, asset.thumbnail.name)))
    handlers.files_events(s3_event(files_bucket, key, len(body)))
    assert MediaAsset.objects.count() == 1
    asset.refresh_from_db()
    assert asset.processed_at == processed_at


def declared_asset(key: str, content_type: str, size: int) -> MediaAsset:
    """The asset an upload request records (what the client declared), awaiting the object."""
    return MediaAsset.objects.create(
        file=key, original_name=key.rsplit("/", 1)[-1], content_type=content_type, declared_size=size
    )


def object_exists(bucket: str, key: str) -> bool:
    return aws.client("s3").list_objects_v2(Bucket=bucket, Prefix=key).get("KeyCount", 0) > 0


def test_a_genuine_png_of_its_declared_size_is_ready(put_object, files_bucket):
    body = png_bytes((32, 16))
    declared_asset("media/ok/real.png", "image/png", len(body))
    put_object(body, key="media/ok/real.png", content_type="image/png")

    asset = media_asset_process(bucket=files_bucket, key="media/ok/real.png")
    assert asset.status == MediaAsset.Status.READY and asset.status_detail == ""
    assert (asset.width, asset.height) == (32, 16) and asset.thumbnail.name == "media/ok/real.thumb.jpg"
    assert object_exists(files_bucket, "media/ok/real.png")


def test_an_html_page_sent_as_image_png_is_rejected_and_deleted(put_object, files_bucket):
    body = b"<!doctype html><html><script>alert(1)</script></html>"
    declared_asset("media/h/page.png", "image/png", len(body))
    put_object(body, key="media/h/page.png", content_type="image/png")

    asset = media_asset_process(bucket=files_bucket, key="media/h/page.png")
    assert asset.status == MediaAsset.Status.REJECTED and not asset.thumbnail
    assert asset.status_detail == "Declared image/png, but the file is not an image: b'<!doctype html><'."
    assert not object_exists(files_bucket, "media/h/")
    # The same event again changes nothing (the object is gone; the asset stays rejected).
    assert media_asset_process(bucket=files_bucket, key="media/h/page.png").status == MediaAsset.Status.REJECTED


def test_an_object_larger_than_its_declared_size_is_rejected_and_deleted(put_object, files_bucket):
    body = png_bytes((8, 8))
    declared_asset("media/s/small.png", "image/png", len(body) - 1)
    put_object(body, key="media/s/small.png", content_type="image/png")

    asset = media_asset_process(bucket=files_bucket, key="media/s/small.png")
    assert asset.status == MediaAsset.Status.REJECTED
    assert asset.status_detail == f"The object is {len(body):,} bytes, but {len(body) - 1:,} bytes were declared."
    assert not object_exists(files_bucket, "media/s/")


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        ("application/pdf", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", ""),
        ("application/pdf", b"PK\x03\x04 a zip file", "does not start with %PDF-"),
        ("text/plain", "Notes: café, 10 × 2\n".encode(), ""),
        ("text/plain", b"MZ\x90\x00\x03\x00\x00\x00", "byte 3 is a NUL byte: binary data, not text"),
        ("image/jpeg", png_bytes((4, 4)), "Declared image/jpeg, but the file is a PNG image."),
    ],
    ids=["pdf", "zip-as-pdf", "text", "exe-as-text", "png-as-jpeg"],
)
def test_the_bytes_must_be_the_declared_content_type(put_object, files_bucket, content_type, body, reason):
    key = f"media/t/file-{content_type.replace('/', '-')}"
    declared_asset(key, content_type, len(body))
    put_object(body, key=key, content_type=content_type)

    asset = media_asset_process(bucket=files_bucket, key=key)
    if not reason:
        assert asset.status == MediaAsset.Status.READY and object_exists(files_bucket, key)
    else:
        assert asset.status == MediaAsset.Status.REJECTED and reason in asset.status_detail
        assert not object_exists(files_bucket, key)


def test_an_object_breaking_the_upload_limits_is_deleted_and_rejected(put_object, files_bucket, settings):
    # What the presigned policy forbids, if it arrived anyway (a client holding other
    # credentials, or a local S3 that does not check POST policies, as moto does not).
    settings.MEDIA_UPLOAD_MAX_BYTES = 10
    put_object(b"x" * 11, key="media/y/big.txt", content_type="text/plain")
    asset = media_asset_process(bucket=files_bucket, key="media/y/big.txt")
    assert asset.status == MediaAsset.Status.REJECTED and "over the 10-byte limit" in asset.status_detail
    assert aws.client("s3").list_objects_v2(Bucket=files_bucket, Prefix="media/y/").get("KeyCount") == 0


def test_an_order_csv_under_incoming_orders_starts_its_import_once(put_object, files_bucket):
    key = "incoming/orders/2024 05.csv"
    put_object(HEADER + b"E-1,c,p,n,1,1\n", key=key)
    event = as_sqs(s3_event(files_bucket, key))
    assert handlers.files_events(event) == {"batchItemFailures": []}
    assert handlers.files_events(event) == {"batchItemFailures": []}  # delivered twice
    import_run = Import.objects.get()
    assert import_run.key == key and import_run.status == Import.Status.PENDING


def test_a_failing_record_is_reported_alone_and_the_s3_test_event_is_skipped(files_bucket, local_aws):
    broken = {"Records": [{"messageId": "bad", "body": "{not json", "eventSource": "aws:sqs"}]}
    test_event = as_sqs({"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": files_bucket}, "test")
    result = handlers.files_events({"Records": broken["Records"] + test_event["Records"]})
    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}


def test_a_failure_is_reported_from_the_queue_and_raised_from_a_direct_s3_event(files_bucket):
    direct = s3_event(files_bucket, "media/a.png")
    with mock.patch("media.handlers.s3_object_created", side_effect=RuntimeError("database down")):
        queued = {"Records": as_sqs(direct, "m-1")["Records"] + as_sqs(direct, "m-2")["Records"]}
        assert handlers.files_events(queued) == {
            "batchItemFailures": [{"itemIdentifier": "m-1"}, {"itemIdentifier": "m-2"}]
        }
        with pytest.raises(RuntimeError):  # Lambda retries the S3 invocation, then dead-letters it
            handlers.files_events(direct)


def test_without_a_configured_name_the_files_bucket_is_found_by_the_naming_rule(local_aws, settings):
    from console.aws import resources

    settings.FILES_BUCKET = ""
    resources.reset_cache()
    assert resources.files_bucket() == local_aws.outputs["FilesBucketName"]  # account id from STS
