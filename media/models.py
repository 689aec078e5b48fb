import uuid

from django.conf import settings
from django.db import models

from media.storage import files_storage

# The permission, by name, of who sees every client's media assets (console staff; an API
# client sees only its own, media.selectors).
VIEW_ALL_MEDIA_ASSETS = "media.view_all_mediaassets"


class MediaAsset(models.Model):
    """A file in the stage's files bucket under ``media/``, with what processing found.

    Uploaded directly to S3 (presigned POST) or through the console; the S3 ObjectCreated
    event fills in size, checksum and, for images, the thumbnail stored beside it.
    """

    class Status(models.TextChoices):
        AWAITING_UPLOAD = "AWAITING_UPLOAD", "Awaiting upload"
        PROCESSING = "PROCESSING", "Processing"
        READY = "READY", "Ready"
        REJECTED = "REJECTED", "Rejected"
        FAILED = "FAILED", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The object key (``media/<id>/<name>``), stored through django-storages.
    file = models.FileField(storage=files_storage, max_length=512, unique=True)
    original_name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=128)
    # Declared when the upload was requested; the limits the presigned policy enforces.
    declared_size = models.PositiveBigIntegerField(null=True, blank=True)
    size = models.PositiveBigIntegerField(null=True, blank=True)
    checksum_sha256 = models.CharField(max_length=64, blank=True)
    etag = models.CharField(max_length=128, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    thumbnail = models.FileField(storage=files_storage, max_length=512, blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.AWAITING_UPLOAD, db_index=True)
    status_detail = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "media asset"
        permissions = [("view_all_mediaassets", "Can see every client's media assets")]

    def __str__(self) -> str:
        return self.original_name or self.file.name

    @property
    def key(self) -> str:
        return self.file.name

    @property
    def is_image(self) -> bool:
        return self.content_type.startswith("image/")
