"""Fixtures for media and imports: objects in the local AWS's files bucket, and imports
run to their end in the test process (the worker-based path has its own stack tests)."""

import uuid

import pytest

from console.aws import clients as aws
from console.aws import resources, s3

HEADER = b"order_reference,user_id,product_id,name,quantity,price\n"


_NOTIFICATIONS: dict = {}


@pytest.fixture(autouse=True)
def files_bucket_notifications(request):
    """The files bucket notifies its queue only during stack tests.

    Other tests put objects under media/ and incoming/orders/ and call the handler
    themselves; their notifications would wait in the queue until a stack test starts the
    consumer, which would then import or process them into a later test's database.
    """
    if "local_aws" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("local_aws")
    s3, bucket = aws.client("s3"), resources.files_bucket()
    if not _NOTIFICATIONS:
        configuration = s3.get_bucket_notification_configuration(Bucket=bucket)
        configuration.pop("ResponseMetadata", None)
        _NOTIFICATIONS.update(configuration)
    wanted = _NOTIFICATIONS if request.node.get_closest_marker("stack") else {}
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=wanted)
    yield


@pytest.fixture
def files_bucket(local_aws) -> str:
    return resources.files_bucket()


@pytest.fixture
def put_object(files_bucket):
    def put(data: bytes, key: str | None = None, content_type: str = "text/csv") -> s3.ObjectInfo:
        key = key or f"tests/{uuid.uuid4()}.csv"
        aws.client("s3").put_object(Bucket=files_bucket, Key=key, Body=data, ContentType=content_type)
        return s3.head(bucket=files_bucket, key=key)

    return put


@pytest.fixture
def run_import(put_object):
    """Import ``data`` (bytes) in this process; returns the finished Import."""
    from media.services import csv_import_object, import_run_inline

    def run(data: bytes, *, chunk_bytes: int | None = None, mode: str = "history", **options):
        info = put_object(data)
        import_run = csv_import_object(info=info, mode=mode, chunk_bytes=chunk_bytes, **options)
        return import_run_inline(import_id=import_run.pk)

    return run
