"""S3 ObjectCreated events (the real AWS sample, directly and as the files-events queue
delivers them) into media processing and imports."""

import hashlib
import io
import json
from urllib.parse import quote_plus

import pytest
from PIL import Image

from console import aws
from media import handlers
from media.models import Import, MediaAsset
from media.services import media_asset_process, thumbnail_key
from tests.aws_samples import aws_event
from tests.media.conftest import HEADER

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


def test_a_file_that_claims_to_be_an_image_but_is_not_is_kept_without_thumbnail(put_object, files_bucket):
    put_object(b"not really a png", key="media/x/fake.png", content_type="image/png")
    asset = media_asset_process(bucket=files_bucket, key="media/x/fake.png")
    assert asset.status == MediaAsset.Status.READY and not asset.thumbnail
    assert "Not a readable image" in asset.status_detail


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


def test_without_a_configured_name_the_files_bucket_is_found_by_the_naming_rule(local_aws, settings):
    from console import resources

    settings.FILES_BUCKET = ""
    resources.reset_cache()
    assert resources.files_bucket() == local_aws.outputs["FilesBucketName"]  # account id from STS
