"""The whole order lifecycle, pair by pair: every status an order may move to from every
status, and every move it may not make. The table below is written from the lifecycle as
the business states it (orders.lifecycle's docstring, the reference architecture's order workflow), not copied from
the code's own table, so a transition added to or dropped from the code fails here."""

import pytest

from orders import lifecycle
from orders.lifecycle import InvalidTransition, OrderStatus

S = OrderStatus
COLUMNS = [
    S.CREATED,
    S.VALIDATED,
    S.AWAITING_APPROVAL,
    S.APPROVED,
    S.PAID,
    S.SHIPPED,
    S.COMPLETED,
    S.DELIVERED,
    S.REJECTED,
    S.FAILED,
    S.CANCELLED,
]

# Rows: the order's status; columns: the status requested (in COLUMNS' order); x: allowed.
#                        CRE VAL AWA APR PAI SHI COM DEL REJ FAI CAN
TABLE = """
    CREATED            .   x   .   .   .   .   .   .   .   x   x
    VALIDATED          .   .   x   .   .   .   .   .   .   x   x
    AWAITING_APPROVAL  .   .   .   x   .   .   .   .   x   x   x
    APPROVED           .   .   .   .   x   .   .   .   .   x   x
    PAID               .   .   .   .   .   x   .   .   .   x   .
    SHIPPED            .   .   .   .   .   .   x   x   .   x   .
    COMPLETED          .   .   .   .   .   .   .   x   .   .   .
    DELIVERED          .   .   .   .   .   .   .   .   .   .   .
    REJECTED           .   .   .   .   .   .   .   .   .   .   .
    FAILED             x   x   .   x   x   x   .   .   .   .   .
    CANCELLED          .   .   .   .   .   .   .   .   .   .   .
"""


def _pairs() -> list[tuple[str, str, bool]]:
    pairs = []
    for line in TABLE.strip().splitlines():
        current, *marks = line.split()
        assert len(marks) == len(COLUMNS), line
        pairs.extend((S(current), requested, mark == "x") for requested, mark in zip(COLUMNS, marks, strict=True))
    return pairs


PAIRS = _pairs()
ALLOWED = [(current, requested) for current, requested, allowed in PAIRS if allowed]
FORBIDDEN = [(current, requested) for current, requested, allowed in PAIRS if not allowed]


def test_the_table_covers_every_pair_of_statuses_once():
    assert len(PAIRS) == len(S) ** 2 == 121
    assert {(current, requested) for current, requested, _ in PAIRS} == {(a, b) for a in S for b in S}
    assert len(ALLOWED) == 24


@pytest.mark.parametrize(("current", "requested"), ALLOWED, ids=[f"{a}->{b}" for a, b in ALLOWED])
def test_every_allowed_transition_is_accepted(current, requested):
    lifecycle.check_transition(current, requested)


@pytest.mark.parametrize(("current", "requested"), FORBIDDEN, ids=[f"{a}-x->{b}" for a, b in FORBIDDEN])
def test_every_other_transition_is_refused_naming_both_statuses(current, requested):
    with pytest.raises(InvalidTransition) as refused:
        lifecycle.check_transition(current, requested)

    assert (refused.value.current, refused.value.requested) == (current, requested)
    assert str(refused.value) == f"An order in status {current} cannot become {requested}."


def test_a_status_the_lifecycle_does_not_know_is_refused_not_a_crash():
    # A row written by an older release (or by hand) must not turn a status change into a 500.
    with pytest.raises(InvalidTransition):
        lifecycle.check_transition("ON_HOLD", S.CANCELLED)


@pytest.mark.parametrize("status", list(S))
def test_an_order_is_open_until_nothing_but_a_restart_leads_out(status):
    # A restart leads out of FAILED: from the start (CREATED) or from the failed step (back
    # to the status the workflow had reached).
    restarts = {S.CREATED, S.VALIDATED, S.APPROVED, S.PAID, S.SHIPPED} if status == S.FAILED else set()
    ways_out = {requested for current, requested in ALLOWED if current == status}
    assert lifecycle.is_open(status) == bool(ways_out - restarts)
