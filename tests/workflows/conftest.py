from decimal import Decimal

import pytest

from orders.lifecycle import OrderStatus
from tests.conftest import make_user
from tests.factories import OrderFactory
from workflows.models import Approval, Execution, token_digest


def make_pending_approval(token: str, *, total: Decimal | None = None, **order_fields) -> Approval:
    """A pending approval as approval_request stores it (four-eyes from the order's total)."""
    from workflows.approvals import approval_required_count

    items = None
    if total is not None:
        items = [{"product_id": "p1", "name": "Widget", "quantity": 1, "price": total}]
    order = OrderFactory(status=OrderStatus.AWAITING_APPROVAL, items=items, **order_fields)
    execution = Execution.objects.create(
        order=order,
        name=f"order-{order.pk}",
        arn=f"arn:aws:states:us-east-1:123456789012:execution:ops-console-dev-order-processing:order-{order.pk}",
        state_machine="order-processing",
        status=Execution.Status.RUNNING,
    )
    return Approval.objects.create(
        order=order,
        execution=execution,
        state_name="RequestApproval",
        task_token=token,
        token_sha256=token_digest(token),
        required_approvals=approval_required_count(total=order.total),
    )


@pytest.fixture
def third_operator(db):
    from console.platform import roles

    return make_user("tess-operator", roles.OPERATOR)


@pytest.fixture
def admin_user(db):
    from console.platform import roles

    return make_user("ada-admin", roles.ADMIN)
