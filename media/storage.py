"""The files bucket as a Django storage (django-storages' S3 storage, signature v4).

Bucket, endpoint and region are read from settings when a connection is made, not when
the model module is imported: the same storage object serves the local moto server, AWS,
and tests that move the endpoint.
"""

import threading

from botocore.config import Config
from django.conf import settings
from storages.backends.s3 import S3Storage


class FilesStorage(S3Storage):
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

    # Settings-backed attributes (assignments are ignored).
    @property
    def bucket_name(self) -> str:
        from console.resources import files_bucket

        return files_bucket()

    @bucket_name.setter
    def bucket_name(self, value) -> None:
        pass

    @property
    def endpoint_url(self) -> str | None:
        return settings.AWS_ENDPOINT_URL

    @endpoint_url.setter
    def endpoint_url(self, value) -> None:
        pass

    @property
    def region_name(self) -> str:
        return settings.AWS_REGION

    @region_name.setter
    def region_name(self, value) -> None:
        pass

    @property
    def connection(self):
        # One connection per thread and endpoint (tests and the local stack move it).
        key = (settings.AWS_ENDPOINT_URL, settings.AWS_REGION, self.bucket_name)
        local = self._connections
        if getattr(local, "key", None) != key:
            session = self._create_session()
            local.connection = session.resource(
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

    def __setstate__(self, state) -> None:
        super().__setstate__(state)
        self._connections = threading.local()


_storage: FilesStorage | None = None


def files_storage() -> FilesStorage:
    """The storage of media files (a callable, so migrations do not freeze its settings)."""
    global _storage
    if _storage is None:
        _storage = FilesStorage()
    return _storage
