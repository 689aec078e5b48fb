import hashlib

from django.conf import settings
from django.db import models


class CompensationStatus(models.TextChoices):
    COMPENSATING = "COMPENSATING", "Compensating"
    COMPENSATED = "COMPENSATED", "Compensated"
    FAILED = "FAILED", "Compensation failed"


class Execution(models.Model):
    """A Step Functions execution we started, as last seen."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Not started yet"
        RUNNING = "RUNNING", "Running"
        SUCCEEDED = "SUCCEEDED", "Succeeded"
        FAILED = "FAILED", "Failed"
        TIMED_OUT = "TIMED_OUT", "Timed out"
        ABORTED = "ABORTED", "Aborted"

    FAILURE_STATUSES = (Status.FAILED, Status.TIMED_OUT, Status.ABORTED)
    # Executions that end in these Fail states ended as designed: an operator rejected the
    # order, or it was cancelled. Step Functions calls them FAILED all the same.
    DESIGNED_ENDINGS = ("OrderRejected", "OrderCancelled")

    order = models.ForeignKey("orders.Order", related_name="executions", on_delete=models.CASCADE)
    name = models.CharField(max_length=80, unique=True)
    arn = models.CharField(max_length=256, blank=True, db_index=True)
    state_machine = models.CharField(max_length=80)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    current_state = models.CharField(max_length=80, blank=True)
    error = models.CharField(max_length=256, blank=True)
    cause = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # A restart either redrives this same execution (AWS) or starts a new one with the
    # same input; the new one points back here and says how it came to be.
    restarted_from = models.ForeignKey(
        "self", null=True, blank=True, related_name="restarts", on_delete=models.SET_NULL
    )
    restart_method = models.CharField(max_length=16, blank=True)
    redrive_count = models.PositiveIntegerField(default=0)
    # A restart from the failed step: the state this execution resumed at ("" from the start).
    resumed_at = models.CharField(max_length=80, blank=True)
    # An operator's stop: asked for at this time, with this reason. AWS ends the execution
    # at once; the local engine only once the task it waits on is answered.
    stop_requested_at = models.DateTimeField(null=True, blank=True)
    stop_reason = models.TextField(blank=True)
    # Order processing's compensations (workflows.compensations): "" while none ran;
    # COMPENSATING once the first one started (fulfilment steps of this execution no longer
    # run); COMPENSATED when all ran; FAILED when one failed for good: an operator retries.
    compensation_status = models.CharField(max_length=16, choices=CompensationStatus.choices, blank=True)
    compensation_error = models.TextField(blank=True)
    # A failure drill (tests, dev; SAGA_FAILURE_DRILLS): the steps of this execution that fail (comma-separated).
    drill_fail_at = models.CharField(max_length=80, blank=True)

    class Meta:
        ordering = ["-created_at"]
        permissions = [
            ("restart_execution", "Can restart failed executions"),
            ("stop_execution", "Can stop running executions"),
            ("start_saga", "Can start the order saga"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.status in {self.Status.PENDING, self.Status.RUNNING}


class StepRun(models.Model):
    """One callback task of an execution: received from its queue, answered by our handler."""

    class Status(models.TextChoices):
        STARTED = "STARTED", "Started"
        SUCCEEDED = "SUCCEEDED", "Succeeded"
        FAILED = "FAILED", "Failed"

    execution = models.ForeignKey(Execution, related_name="steps", on_delete=models.CASCADE)
    step = models.CharField(max_length=80)
    token_sha256 = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.STARTED)
    # Set once Step Functions acknowledged our answer; a redelivered message whose step
    # already ran only re-sends the recorded answer, it never runs the step twice.
    answered_at = models.DateTimeField(null=True, blank=True)
    output = models.JSONField(null=True, blank=True)
    error = models.CharField(max_length=256, blank=True)
    cause = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["started_at", "id"]

    def __str__(self) -> str:
        return f"{self.step} ({self.status})"


class Compensation(models.Model):
    """One forward step undone: a payment refunded or stock put back. ``undoes`` is
    unique, so a step is undone once, whoever asks again (the engine's retries, an
    operator's retry, a restart's own compensations)."""

    class Action(models.TextChoices):
        REFUND = "REFUND", "Payment refunded"
        RESTOCK = "RESTOCK", "Stock put back"

    order = models.ForeignKey("orders.Order", related_name="compensations", on_delete=models.CASCADE)
    execution = models.ForeignKey(Execution, related_name="compensations", on_delete=models.CASCADE)
    undoes = models.OneToOneField(StepRun, related_name="compensation", on_delete=models.CASCADE)
    action = models.CharField(max_length=16, choices=Action.choices)
    detail = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} ({self.undoes.step} of {self.execution.name})"


class Approval(models.Model):
    """A human decision the workflow waits for, holding the task token that resumes it."""

    class Status(models.TextChoices):
        PENDING = "PENDING", "Pending"
        APPROVED = "APPROVED", "Approved"
        REJECTED = "REJECTED", "Rejected"
        EXPIRED = "EXPIRED", "Expired"
        CLOSED = "CLOSED", "Closed (task no longer exists)"
        INVALID = "INVALID", "Invalid task token"
        CANCELLED = "CANCELLED", "Cancelled with the order"

    order = models.ForeignKey("orders.Order", related_name="approvals", on_delete=models.CASCADE)
    execution = models.ForeignKey(Execution, null=True, blank=True, related_name="approvals", on_delete=models.SET_NULL)
    state_name = models.CharField(max_length=80)
    # Secret-like: resumes the execution. Never shown, logged or put in a link.
    task_token = models.TextField()
    token_sha256 = models.CharField(max_length=64, unique=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    requested_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True)
    # A decision is recorded first, then delivered to Step Functions; until delivered_at is
    # set, the delivery can be retried (the decision itself is never taken twice).
    delivered_at = models.DateTimeField(null=True, blank=True)
    aws_request_id = models.CharField(max_length=64, blank=True)
    outcome_detail = models.TextField(blank=True)
    # Four-eyes: orders above APPROVAL_FOUR_EYES_ABOVE need two approvals by two people.
    # The first approval is recorded here; the second decides (and resumes the workflow).
    required_approvals = models.PositiveSmallIntegerField(default=1)
    first_approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    first_approved_at = models.DateTimeField(null=True, blank=True)
    first_note = models.TextField(blank=True)
    # An operator's claim: the approval is theirs to decide until they release it.
    claimed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    claimed_at = models.DateTimeField(null=True, blank=True)
    # From the task's HeartbeatSeconds: the sweep sends heartbeats while the approval waits.
    heartbeat_seconds = models.PositiveIntegerField(null=True, blank=True)
    # When the sweep last confirmed the task is open (heartbeat, or the execution described).
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["requested_at", "id"]
        permissions = [
            ("decide_approval", "Can approve or reject orders"),
            ("assign_approval", "Can reassign approvals claimed by others"),
        ]

    def __str__(self) -> str:
        return f"Approval for {self.order}"

    @property
    def is_pending(self) -> bool:
        return self.status == self.Status.PENDING

    @property
    def needs_second_approval(self) -> bool:
        return self.is_pending and self.required_approvals > 1 and self.first_approved_by_id is not None

    @property
    def is_four_eyes(self) -> bool:
        return self.required_approvals > 1

    @property
    def waited_until(self):
        """When it stopped waiting: its decision, or its expiry for an expired one. None while
        pending, and where the end is not recorded (closed with its execution, cancelled
        with its order): the pages then show no waiting time rather than one still growing."""
        if self.is_pending:
            return None
        if self.decided_at:
            return self.decided_at
        if self.status == self.Status.EXPIRED:
            return self.expires_at
        return None


def token_digest(task_token: str) -> str:
    return hashlib.sha256(task_token.encode()).hexdigest()
