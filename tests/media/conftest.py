"""Fixtures for media and imports: objects in the local AWS's files bucket, and imports
run to their end in the test process (the worker-based path has its own stack tests)."""

import uuid

import pytest

from console import aws, resources
from media import s3

HEADER = b"order_reference,user_id,product_id,name,quantity,price\n"


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
