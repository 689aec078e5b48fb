import pytest

from orders import lifecycle
from orders.lifecycle import InvalidTransition, OrderStatus


def test_the_happy_path_is_allowed_step_by_step():
    path = [
        OrderStatus.CREATED,
        OrderStatus.VALIDATED,
        OrderStatus.AWAITING_APPROVAL,
        OrderStatus.APPROVED,
        OrderStatus.PAID,
        OrderStatus.SHIPPED,
        OrderStatus.COMPLETED,
        OrderStatus.DELIVERED,
    ]
    for current, following in zip(path, path[1:], strict=False):
        lifecycle.check_transition(current, following)


@pytest.mark.parametrize(
    ("current", "requested"),
    [
        (OrderStatus.CREATED, OrderStatus.APPROVED),  # skipping validation and approval
        (OrderStatus.AWAITING_APPROVAL, OrderStatus.PAID),  # paying before a decision
        (OrderStatus.PAID, OrderStatus.CANCELLED),  # paid orders are refunded, not cancelled
        (OrderStatus.COMPLETED, OrderStatus.CREATED),
        (OrderStatus.REJECTED, OrderStatus.APPROVED),
        (OrderStatus.CANCELLED, OrderStatus.VALIDATED),
    ],
)
def test_invalid_transitions_are_refused_with_both_statuses_named(current, requested):
    with pytest.raises(InvalidTransition) as raised:
        lifecycle.check_transition(current, requested)
    assert current in str(raised.value) and requested in str(raised.value)


def test_final_statuses_have_no_way_out():
    assert lifecycle.FINAL == {OrderStatus.DELIVERED, OrderStatus.REJECTED, OrderStatus.FAILED, OrderStatus.CANCELLED}


def test_only_unpaid_orders_can_be_cancelled():
    assert lifecycle.CANCELLABLE == {
        OrderStatus.CREATED,
        OrderStatus.VALIDATED,
        OrderStatus.AWAITING_APPROVAL,
        OrderStatus.APPROVED,
    }


def test_clients_cannot_set_workflow_statuses():
    assert OrderStatus.APPROVED not in lifecycle.CLIENT_SETTABLE
    assert OrderStatus.PAID not in lifecycle.CLIENT_SETTABLE
    assert OrderStatus.DELIVERED in lifecycle.CLIENT_SETTABLE


def test_a_failed_order_leaves_failed_only_when_its_workflow_is_restarted():
    # From the start (CREATED), or from the failed step: back to the status the workflow had reached.
    lifecycle.check_transition(OrderStatus.FAILED, OrderStatus.CREATED)
    assert lifecycle.TRANSITIONS[OrderStatus.FAILED] == {
        OrderStatus.CREATED,
        OrderStatus.VALIDATED,
        OrderStatus.APPROVED,
        OrderStatus.PAID,
        OrderStatus.SHIPPED,
    }
    assert not lifecycle.is_open(OrderStatus.FAILED)
    for never in (OrderStatus.COMPLETED, OrderStatus.AWAITING_APPROVAL, OrderStatus.DELIVERED):
        with pytest.raises(InvalidTransition):
            lifecycle.check_transition(OrderStatus.FAILED, never)
