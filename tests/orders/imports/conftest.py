"""Fixtures for order CSV imports: objects in the local AWS's files bucket
(``tests/conftest.py``), and imports run to their end in the test process (the
worker-based path has its own stack tests)."""

import pytest

from orders.imports.services import csv_import_object, import_run_inline

HEADER = b"order_reference,user_id,product_id,name,quantity,price\n"


@pytest.fixture(autouse=True)
def quiet_files_bucket(files_bucket_notifications):
    """No bucket notifications outside stack tests (see ``files_bucket_notifications``)."""
    yield


@pytest.fixture
def run_import(put_object):
    """Import ``data`` (bytes) in this process; returns the finished Import."""

    def run(data: bytes, *, chunk_bytes: int | None = None, mode: str = "history", **options):
        info = put_object(data)
        import_run = csv_import_object(info=info, mode=mode, chunk_bytes=chunk_bytes, **options)
        return import_run_inline(import_id=import_run.pk)

    return run
