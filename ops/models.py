"""The dead-letter archive, redrive jobs, and alarms with their recorded history.

Design (why an archive): every dead-letter queue of the stage is routed in
``zappa_settings.json`` to ``ops.handlers.dead_letters_archive``. It stores each message
here (body, attributes, message attributes, decoded summary) and only then lets the
queue delete it. Browsing reads this table: it costs no SQS call, never hides a message
(no visibility timeout), never bumps a receive count (nothing can push it further), and
nothing expires after SQS's 14-day retention. A redrive sends archived messages to their
queue before marking them redriven, so a crash can duplicate but never lose one.
"""

import uuid

from django.conf import settings
from django.db import models


class DeadLetter(models.Model):
    """One message that arrived in a dead-letter queue, as it arrived, and what became of it."""

    class State(models.TextChoices):
        PRESENT = "present", "Waiting"
        REDRIVEN = "redriven", "Redriven"
        DELETED = "deleted", "Deleted"

    class Kind(models.TextChoices):
        CELERY = "celery", "Celery task"
        ZAPPA = "zappa", "Zappa async task"
        SNS = "sns", "SNS notification"
        S3 = "s3", "S3 event"
        STEP = "stepfunctions", "Step Functions task"
        EVENTBRIDGE = "eventbridge", "EventBridge event"
        UNKNOWN = "unknown", "Other"

    queue_name = models.CharField(max_length=80)
    message_id = models.CharField(max_length=100)
    body = models.TextField()
    body_sha256 = models.CharField(max_length=64, db_index=True)
    # SQS system attributes as received (SentTimestamp, ApproximateReceiveCount,
    # MessageGroupId, MessageDeduplicationId, AWSTraceHeader, DeadLetterQueueSourceArn...).
    attributes = models.JSONField(default=dict)
    # In SendMessage's shape ({"name": {"DataType", "StringValue" | "BinaryValue"(base64)}}),
    # so a redrive sends them back unchanged.
    message_attributes = models.JSONField(default=dict)
    source_queue = models.CharField(max_length=80, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    archived_at = models.DateTimeField(auto_now_add=True)

    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.UNKNOWN)
    task = models.CharField(max_length=255, blank=True, db_index=True)
    task_id = models.CharField(max_length=100, blank=True, db_index=True)
    error_type = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)
    order_id = models.UUIDField(null=True, blank=True, db_index=True)
    summary = models.JSONField(default=dict)
    # Same task and same error (numbers and ids stripped): the grouping key.
    fingerprint = models.CharField(max_length=40, db_index=True)

    state = models.CharField(max_length=16, choices=State.choices, default=State.PRESENT)
    redrive_job = models.ForeignKey(
        "RedriveJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="messages"
    )
    redrive_error = models.TextField(blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_to = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["-archived_at", "-id"]
        verbose_name = "dead letter"
        constraints = [models.UniqueConstraint(fields=["queue_name", "message_id"], name="dead_letter_once")]
        indexes = [
            models.Index(fields=["queue_name", "state", "archived_at"], name="dead_letter_queue_state"),
            models.Index(fields=["state", "fingerprint"], name="dead_letter_groups"),
        ]
        permissions = [
            ("redrive_deadletter", "Can redrive dead-letter messages"),
            ("purge_deadletter", "Can delete and purge dead-letter messages"),
        ]

    def __str__(self) -> str:
        return f"{self.queue_name}/{self.message_id}"

    @property
    def group_id(self) -> str:
        return self.attributes.get("MessageGroupId", "")

    @property
    def receive_count(self) -> int:
        return int(self.attributes.get("ApproximateReceiveCount") or 0)


class RedriveJob(models.Model):
    """A background move of archived messages back to a queue (or an AWS message move task)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        CANCELLING = "cancelling", "Cancelling"
        CANCELLED = "cancelled", "Cancelled"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Finished with failures"

    class Mode(models.TextChoices):
        ALL = "all", "All waiting messages"
        SELECTED = "selected", "Selected messages"
        FILTERED = "filtered", "Messages matching a filter"
        MOVE_TASK = "move_task", "AWS message move task (messages still in SQS)"

    ACTIVE = (Status.QUEUED, Status.RUNNING, Status.CANCELLING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    queue_name = models.CharField(max_length=80, db_index=True)
    target_queue = models.CharField(max_length=80)
    mode = models.CharField(max_length=16, choices=Mode.choices)
    filters = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    total = models.PositiveIntegerField(default=0)
    moved = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    rate_limit = models.PositiveIntegerField(null=True, blank=True, help_text="messages per second; empty: no limit")
    parallelism = models.PositiveSmallIntegerField(default=1)
    reason = models.TextField(blank=True)
    last_error = models.TextField(blank=True)
    move_task_handle = models.TextField(blank=True)
    # SQS's StartedTimestamp of the move task (epoch ms), recorded when the task is first
    # seen: ListMessageMoveTasks gives a TaskHandle only while a task runs, so this is how
    # the task is told apart from the queue's other move tasks once it has ended.
    move_task_started_ms = models.BigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=16, default="console")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "redrive job"

    def __str__(self) -> str:
        return f"Redrive {self.queue_name} → {self.target_queue} ({self.get_status_display()})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE

    @property
    def percent(self) -> int:
        if not self.total:
            return 100 if self.status == self.Status.SUCCEEDED else 0
        return min(100, int(100 * (self.moved + self.failed) / self.total))


class TaskFailure(models.Model):
    """A Celery task's failure, recorded by the worker that ran it (the worker function or a
    Celery worker process, through Celery's signals in ``ops.tasks``): the last exception,
    the task's arguments, and what became of it.

    One row per task id: each attempt of the same task updates it. A retry from the console
    sends the same task with the same arguments under a new id (``retry_task_id``); if that
    fails too, it is a row of its own (``retry_of`` points back here)."""

    class Status(models.TextChoices):
        # Celery will run it again by the task's own retry policy.
        RETRYING = "retrying", "Will be retried"
        # No retries left (or none at all): dead-lettered on the worker function, dropped
        # by a Celery worker. Waits for support staff.
        FAILED = "failed", "Failed for good"
        # Sent again from the console; its outcome is the new task's.
        RETRIED = "retried", "Retried"
        # A later attempt, a redrive of its message or its retry succeeded.
        RESOLVED = "resolved", "Resolved"
        # Support staff decided it needs no new run; the record is kept.
        DISCARDED = "discarded", "Discarded"

    task_id = models.CharField(max_length=100, unique=True)
    task = models.CharField(max_length=255, db_index=True)
    args = models.JSONField(default=list, blank=True)
    kwargs = models.JSONField(default=dict, blank=True)
    error_type = models.CharField(max_length=255)
    error = models.TextField()
    traceback = models.TextField(blank=True)
    retries = models.PositiveIntegerField(default=0)
    # The task's retry policy when it failed: None is "no limit" (or unknown).
    max_retries = models.PositiveIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.FAILED, db_index=True)
    # The worker function's name, or a Celery worker's hostname: which runtime ran it.
    worker = models.CharField(max_length=255, blank=True)
    # An order the task was about, found in its arguments (see ops.failures).
    order_id = models.UUIDField(null=True, blank=True, db_index=True)
    first_failed_at = models.DateTimeField(auto_now_add=True)
    failed_at = models.DateTimeField(auto_now=True, db_index=True)

    retry_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retry_failures"
    )
    retry_task_id = models.CharField(max_length=100, blank=True, db_index=True)
    retried_at = models.DateTimeField(null=True, blank=True)
    retried_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolution = models.TextField(blank=True)

    class Meta:
        ordering = ["-failed_at", "-id"]
        verbose_name = "failed job"
        indexes = [models.Index(fields=["status", "-failed_at"], name="task_failure_status")]
        permissions = [
            ("retry_taskfailure", "Can retry failed jobs"),
            ("discard_taskfailure", "Can discard failed jobs"),
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.task_id}: {self.error_type}"

    @property
    def attempts(self) -> int:
        return self.retries + 1


class Queue(models.Model):
    """The stage's SQS queues, which live in SQS, not here: no table (``managed = False``).
    The model gives the console's queue page its place among the ops pages, and the
    permissions to see the queues and to pause and resume their consumers."""

    name = models.CharField(max_length=80, primary_key=True)

    class Meta:
        managed = False
        default_permissions = ("view",)
        permissions = [("pause_queue", "Can pause and resume a queue's consumer")]

    def __str__(self) -> str:
        return self.name


class Alarm(models.Model):
    """A CloudWatch alarm of the stage as last seen, with what support staff did about it.
    Kept after the alarm is deleted in AWS (``exists`` turns false) so its history stays."""

    class State(models.TextChoices):
        OK = "OK", "OK"
        ALARM = "ALARM", "In alarm"
        INSUFFICIENT_DATA = "INSUFFICIENT_DATA", "Insufficient data"

    name = models.CharField(max_length=255, unique=True)
    arn = models.CharField(max_length=512, blank=True)
    state = models.CharField(max_length=20, choices=State.choices, default=State.INSUFFICIENT_DATA, db_index=True)
    state_reason = models.TextField(blank=True)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    description = models.TextField(blank=True)
    namespace = models.CharField(max_length=255, blank=True)
    metric_name = models.CharField(max_length=255, blank=True)
    dimensions = models.JSONField(default=dict, blank=True)
    statistic = models.CharField(max_length=32, blank=True)
    period = models.PositiveIntegerField(null=True, blank=True)
    evaluation_periods = models.PositiveIntegerField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    comparison = models.CharField(max_length=64, blank=True)
    actions_enabled = models.BooleanField(default=True)
    exists = models.BooleanField(default=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    muted_until = models.DateTimeField(null=True, blank=True)
    mute_reason = models.TextField(blank=True)
    muted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # An acknowledgement holds for the current state episode; a state change clears it.
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["name"]
        permissions = [("manage_alarm", "Can mute, acknowledge and assign alarms")]

    def __str__(self) -> str:
        return self.name

    @property
    def comparison_symbol(self) -> str:
        return {
            "GreaterThanThreshold": ">",
            "GreaterThanOrEqualToThreshold": "≥",
            "LessThanThreshold": "<",
            "LessThanOrEqualToThreshold": "≤",
        }.get(self.comparison, self.comparison)


class AlarmEvent(models.Model):
    """One state change of an alarm, from EventBridge, an alarm's Lambda action or
    DescribeAlarmHistory. Keyed by name (not a foreign key): it outlives the alarm."""

    class Source(models.TextChoices):
        EVENT = "event", "EventBridge event"
        ACTION = "action", "Alarm action"
        HISTORY = "history", "CloudWatch history"

    alarm_name = models.CharField(max_length=255)
    state = models.CharField(max_length=20)
    previous_state = models.CharField(max_length=20, blank=True)
    reason = models.TextField(blank=True)
    reason_data = models.JSONField(null=True, blank=True)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=Source.choices)
    recorded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["alarm_name", "occurred_at", "state"], name="alarm_event_once"),
        ]
        indexes = [models.Index(fields=["alarm_name", "-occurred_at"], name="alarm_event_history")]

    def __str__(self) -> str:
        return f"{self.alarm_name}: {self.previous_state or '?'} → {self.state} at {self.occurred_at}"


class MetricMark(models.Model):
    """How far the console's own per-minute metrics were published (``ops.metrics``): the
    next run publishes the minutes after ``published_until``, so no minute counts twice
    and none is skipped while the schedule runs late."""

    name = models.CharField(max_length=64, unique=True)
    published_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} until {self.published_until}"


class StageCost(models.Model):
    """What the stage costs, computed from CloudWatch on demand (``ops.costs``): no table
    (``managed = False``). The model gives the cost page its place among the ops pages and
    the permission to see it, which only admins hold."""

    area = models.CharField(max_length=16, primary_key=True)

    class Meta:
        managed = False
        default_permissions = ("view",)
        verbose_name = "cost"
        verbose_name_plural = "costs"

    def __str__(self) -> str:
        return self.area
