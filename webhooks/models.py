"""Webhook endpoints (an API client's HTTPS URL, the order event types it wants, its
signing secret) and the deliveries of order events to them, with every attempt.

A delivery is one order event for one endpoint, unique on the pair: redelivering or
replaying the event to that endpoint sends the same delivery again, with the same
``webhook-id``, so a receiver that drops ids it has seen stays idempotent.
"""

import uuid

from django.conf import settings
from django.db import models

# An endpoint's owner normally sees and changes only its own endpoints; these see and
# change every client's (the console's admins).
MANAGE_ALL_ENDPOINTS = "webhooks.manage_all_endpoints"


class Endpoint(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # The API client whose orders' events this endpoint receives (and nothing else).
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Order event types (orders' OrderEvent.event_type); empty: every type.
    event_types = models.JSONField(default=list, blank=True)
    secret = models.CharField(max_length=100)
    # During a rotation the old secret signs too, until ``previous_secret_expires_at``.
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # Failed attempts since the last success; WEBHOOK_DISABLE_AFTER_FAILURES disables it.
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "enabled"], name="webhook_endpoint_owner")]
        permissions = [
            ("manage_all_endpoints", "Can see and change every client's webhook endpoints"),
            ("rotate_endpoint_secret", "Can rotate a webhook endpoint's secret"),
            ("redeliver_delivery", "Can redeliver webhook deliveries and replay order events"),
        ]

    def __str__(self) -> str:
        return self.url

    def wants(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class Delivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        # Every attempt failed: the message went to the webhooks dead-letter queue.
        FAILED = "failed", "Failed"
        # Not sent: the endpoint was disabled when its turn came.
        SKIPPED = "skipped", "Skipped"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    order_id = models.UUIDField(db_index=True)
    # The body sent, exactly (the order event's message as the outbox published it).
    payload = models.JSONField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    # When the change the event records was made: the delay to the receiver's 2xx is measured from it.
    event_created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "deliveries"
        constraints = [models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_once")]
        indexes = [models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.order_id}"

    @property
    def webhook_id(self) -> str:
        """The ``webhook-id`` header: the event's id, so every retry, redelivery and replay
        of the event carries the same one."""
        return f"msg_{self.event_id.hex}"


class Attempt(models.Model):
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_set")
    number = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.CharField(max_length=500, blank=True)
    succeeded = models.BooleanField()

    class Meta:
        ordering = ["started_at"]

    def __str__(self) -> str:
        return f"attempt {self.number}"
