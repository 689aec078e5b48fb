from django.conf import settings
from django.db import models


class AuditEntryQuerySet(models.QuerySet):
    """Bulk updates and deletes are refused too (PostgreSQL also refuses them with a trigger)."""

    def update(self, **kwargs):
        raise ValueError("audit entries are append-only")

    def delete(self):
        raise ValueError("audit entries are append-only")


class AuditEntry(models.Model):
    """One state-changing action, by whom, on what, why, with the before and after.

    Append-only: rows are written by ``console.platform.audit.audit_record`` and never changed.
    """

    class Source(models.TextChoices):
        CONSOLE = "console", "Console"
        API = "api", "REST API"
        SYSTEM = "system", "System"

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Kept even if the user is deleted later.
    actor_name = models.CharField(max_length=150, blank=True)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.SYSTEM)
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, db_index=True)
    reason = models.TextField(blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    aws_request_id = models.CharField(max_length=64, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [
            models.Index(fields=["object_type", "object_id"]),
            # The console's exact searches by who acted and by request id.
            models.Index(fields=["actor_name"], name="audit_actor_name"),
            models.Index(fields=["request_id"], name="audit_request_id"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}:{self.object_id} by {self.actor_name or 'system'}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("audit entries are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("audit entries are append-only")


# --- REST API: idempotency keys and throttle buckets -------------------------------------


class IdempotencyKey(models.Model):
    """The first result of a POST sent with an ``Idempotency-Key`` header, per API client.

    Written in the same transaction as the change the request made, so a key exists only
    for a change that committed; a retry with the same key and body gets this result back.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # sha256 of method, path and the canonical JSON body: another body under the same key is refused.
    fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField(null=True)
    response_headers = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]

    def __str__(self) -> str:
        return f"{self.key} ({self.response_status})"


class ThrottleBucket(models.Model):
    """A token bucket per API client, shared by every process (Lambda instances share
    nothing else). Updated by one atomic upsert per request: see ``console.api.throttling``."""

    key = models.CharField(max_length=200, primary_key=True)
    tokens = models.FloatField()
    # Seconds since the epoch of the last refill.
    updated = models.FloatField()

    def __str__(self) -> str:
        return f"{self.key}: {self.tokens:.1f}"
