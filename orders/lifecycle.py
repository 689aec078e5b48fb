r"""The order lifecycle: which status may follow which, and who may set it.

    CREATED -> VALIDATED -> AWAITING_APPROVAL -> APPROVED -> PAID -> SHIPPED -> COMPLETED -> DELIVERED
                                              \-> REJECTED
    any open status -> FAILED (the workflow failed) or CANCELLED (a client or operator cancelled)
    FAILED -> CREATED (an operator restarted the workflow), or back to the status the workflow
              had reached (VALIDATED, APPROVED, PAID, SHIPPED: restarted from the failed step)

The workflow moves an order along; REST clients may only record what happens after the
workflow (delivery) or cancel an order that has not been paid for.
"""

from django.db import models


class OrderStatus(models.TextChoices):
    CREATED = "CREATED", "Created"
    VALIDATED = "VALIDATED", "Validated"
    AWAITING_APPROVAL = "AWAITING_APPROVAL", "Awaiting approval"
    APPROVED = "APPROVED", "Approved"
    PAID = "PAID", "Paid"
    SHIPPED = "SHIPPED", "Shipped"
    COMPLETED = "COMPLETED", "Completed"
    DELIVERED = "DELIVERED", "Delivered"
    REJECTED = "REJECTED", "Rejected"
    FAILED = "FAILED", "Failed"
    CANCELLED = "CANCELLED", "Cancelled"


S = OrderStatus

TRANSITIONS: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.VALIDATED, S.FAILED, S.CANCELLED}),
    S.VALIDATED: frozenset({S.AWAITING_APPROVAL, S.FAILED, S.CANCELLED}),
    S.AWAITING_APPROVAL: frozenset({S.APPROVED, S.REJECTED, S.FAILED, S.CANCELLED}),
    S.APPROVED: frozenset({S.PAID, S.FAILED, S.CANCELLED}),
    S.PAID: frozenset({S.SHIPPED, S.FAILED}),
    S.SHIPPED: frozenset({S.COMPLETED, S.DELIVERED, S.FAILED}),
    S.COMPLETED: frozenset({S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.REJECTED: frozenset(),
    # An operator may restart the workflow of a failed order: from the start (the order
    # starts over) or from the step that failed (the order goes back to where it was).
    S.FAILED: frozenset({S.CREATED, S.VALIDATED, S.APPROVED, S.PAID, S.SHIPPED}),
    S.CANCELLED: frozenset(),
}

# Statuses a REST client may set with PUT /orders/{id}/status. The others belong to the
# workflow (approval in particular must go through an approval decision).
CLIENT_SETTABLE = frozenset({S.DELIVERED, S.CANCELLED})

# Final: nothing leads out, or (FAILED) nothing but an operator's restart.
FINAL = frozenset(status for status, targets in TRANSITIONS.items() if not targets) | {S.FAILED}
# Once paid, an order is no longer cancelled; it is refunded (outside this console).
CANCELLABLE = frozenset(status for status, targets in TRANSITIONS.items() if S.CANCELLED in targets)


class InvalidTransition(Exception):
    """The order's current status does not allow the requested one."""

    def __init__(self, current: str, requested: str):
        self.current = current
        self.requested = requested
        super().__init__(f"An order in status {current} cannot become {requested}.")


def check_transition(current: str, requested: str) -> None:
    if requested not in TRANSITIONS.get(current, frozenset()):
        raise InvalidTransition(current, requested)


def is_open(status: str) -> bool:
    return status not in FINAL
