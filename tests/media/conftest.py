"""Fixtures for media: objects in the local AWS's files bucket (``tests/conftest.py``)."""

import pytest


@pytest.fixture(autouse=True)
def quiet_files_bucket(files_bucket_notifications):
    """No bucket notifications outside stack tests (see ``files_bucket_notifications``)."""
    yield
