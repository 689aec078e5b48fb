"""The files bucket as a Django storage (django-storages' S3 storage, signature v4).

Bucket, endpoint and region are read from settings when a connection is made, not when
the model module is imported: the same storage serves the local moto server, AWS, and
tests that move the endpoint. The model fields hold ``FilesStorage``, a thin Django
storage that builds the S3 storage (and imports boto3) on first use, so a Lambda cold
start that touches no file pays nothing for it.
"""

import threading
from functools import cache

from django.conf import settings
from django.core.files.storage import Storage
from django.utils.deconstruct import deconstructible

from console.aws.resources import files_bucket


@cache
def _s3_storage_class():
    from botocore.config import Config
    from storages.backends.s3 import S3Storage

    class SettingsS3Storage(S3Storage):
        def get_default_settings(self) -> dict:
            defaults = super().get_default_settings()
            defaults.update(
                signature_version="s3v4",
                # Keys are chosen by us and unique; never rename an upload behind our back.
                file_overwrite=False,
                default_acl=None,
                querystring_auth=True,
                querystring_expire=600,
                location="",
            )
            # Properties below, read from settings at call time.
            for name in ("bucket_name", "endpoint_url", "region_name"):
                defaults.pop(name)
            return defaults

        @property
        def bucket_name(self) -> str:
            return files_bucket()

        @property
        def endpoint_url(self) -> str | None:
            return settings.AWS_ENDPOINT_URL

        @property
        def region_name(self) -> str:
            return settings.AWS_REGION

        @property
        def connection(self):
            # One connection per thread and endpoint (tests and the local stack move it).
            key = (settings.AWS_ENDPOINT_URL, settings.AWS_REGION, self.bucket_name)
            local = self._connections
            if getattr(local, "key", None) != key:
                local.connection = self._create_session().resource(
                    "s3",
                    region_name=self.region_name,
                    endpoint_url=self.endpoint_url,
                    config=Config(
                        signature_version="s3v4",
                        # A local endpoint is an IP address: buckets go in the path there.
                        s3={"addressing_style": "path" if self.endpoint_url else "auto"},
                        connect_timeout=3,
                        read_timeout=60,
                        retries={"mode": "standard", "max_attempts": 3},
                    ),
                )
                local.key = key
                self._bucket = None
            return local.connection

        @property
        def bucket(self):
            if self._bucket is None or self._bucket.name != self.bucket_name:
                self._bucket = self.connection.Bucket(self.bucket_name)
            return self._bucket

    return SettingsS3Storage


@deconstructible(path="media.storage.FilesStorage")
class FilesStorage(Storage):
    """Delegates to the S3 storage, created on first use."""

    _lock = threading.Lock()

    def __init__(self):
        self._s3 = None

    @property
    def s3(self):
        if self._s3 is None:
            with self._lock:
                if self._s3 is None:
                    self._s3 = _s3_storage_class()()
        return self._s3

    def _open(self, name, mode="rb"):
        return self.s3._open(name, mode)

    def _save(self, name, content):
        return self.s3._save(name, content)

    def get_valid_name(self, name):
        return self.s3.get_valid_name(name)

    def get_available_name(self, name, max_length=None):
        return self.s3.get_available_name(name, max_length)

    def generate_filename(self, filename):
        return self.s3.generate_filename(filename)

    def delete(self, name):
        return self.s3.delete(name)

    def exists(self, name):
        return self.s3.exists(name)

    def listdir(self, path):
        return self.s3.listdir(path)

    def size(self, name):
        return self.s3.size(name)

    def url(self, name, parameters=None, expire=None, http_method=None):
        return self.s3.url(name, parameters, expire, http_method)

    def get_modified_time(self, name):
        return self.s3.get_modified_time(name)


_storage = FilesStorage()


def files_storage() -> FilesStorage:
    """The storage of media files (a callable, so migrations keep a reference, not a copy)."""
    return _storage
