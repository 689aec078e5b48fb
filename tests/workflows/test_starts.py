"""Workflow starts in batches (workflows.starts): requests recorded with the order, one
starter at a time claiming them, StartExecution paced to WORKFLOW_STARTS_PER_SECOND for
the whole stage, signals that queue one job where 25 orders a second ask, the sweep
draining any backlog in one run, and two starters at once starting each order once.

Starts go to the local AWS (moto): to the deployed order workflow where its behaviour
matters (idempotency), to a one-state machine where only the count does (moto starts an
execution of the order workflow in about 0.1 s, one of a Pass state in about 0.01 s)."""

import json
import threading
import time
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import connection
from django.utils import timezone

from console.aws import clients as aws
from console.aws import resources
from console.aws.resources import resource_name
from orders.models import Order
from orders.services import order_create
from tests.cloudwatch import alarm_metric_maximums
from workflows import handlers, sfn, starts
from workflows.models import Execution
from workflows.starts import StartPacer, workflow_start_request, workflow_starts_run, workflow_starts_signal

ITEMS = [{"product_id": "p", "name": "Widget", "quantity": 1, "price": Decimal("20")}]


def requested_orders(count: int, *, age: timedelta = timedelta(0)) -> list[Order]:
    """``count`` orders with their start requests, made ``age`` ago (bulk: no items)."""
    orders = Order.objects.bulk_create(Order(user_id=f"c-{n}", total=Decimal("20")) for n in range(count))
    workflow_start_request(order_ids=[order.pk for order in orders])
    if age:
        Execution.objects.filter(order__in=orders).update(created_at=timezone.now() - age)
        Order.objects.filter(pk__in=[order.pk for order in orders]).update(created_at=timezone.now() - age)
    return orders


def started_arns() -> dict[str, str]:
    return dict(Execution.objects.exclude(arn="").values_list("name", "arn"))


def executions_in_aws(machine_arn: str) -> list[dict]:
    pages = aws.client("stepfunctions").get_paginator("list_executions").paginate(stateMachineArn=machine_arn)
    return [execution for page in pages for execution in page["executions"]]


@pytest.fixture
def pass_machine(local_aws, settings):
    """A one-state machine standing in for the order workflow where only starts count."""
    client = aws.client("stepfunctions")
    name = "test-starts-pass"  # not the stage's: the functions' role need not grant it
    arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
    try:
        client.describe_state_machine(stateMachineArn=arn)
    except client.exceptions.StateMachineDoesNotExist:
        client.create_state_machine(
            name=name,
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/test",
        )
    settings.ORDER_STATE_MACHINE_ARN = arn
    return arn


@pytest.fixture(autouse=True)
def fresh_signal_memo():
    starts._memo.clear()
    yield
    starts._memo.clear()


# --- Pacing -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_pacer_keeps_to_its_rate_in_every_second_against_a_clock():
    clock = [time.time()]
    pacer = StartPacer(rate=20, clock=lambda: clock[0], sleep=lambda seconds: clock.__setitem__(0, clock[0] + seconds))
    began = clock[0]

    taken = []
    for _ in range(200):
        pacer.acquire()
        taken.append(clock[0] - began)

    # 200 tokens at 20 a second, the bucket holding 2: 9.9 s, never more than 20 + 2 in a second.
    assert taken[-1] == pytest.approx((200 - pacer.burst) / 20, abs=0.05)
    assert pacer.burst == 2
    for start in range(int(taken[-1]) + 1):
        assert sum(start <= t < start + 1 for t in taken) <= 20 + pacer.burst


@pytest.mark.django_db
def test_the_pacer_is_one_budget_for_every_caller():
    """Two pacers (two processes, or the starter and a single start) share the bucket."""
    clock = [time.time()]
    advance = lambda seconds: clock.__setitem__(0, clock[0] + seconds)  # noqa: E731
    one, other = (StartPacer(rate=10, clock=lambda: clock[0], sleep=advance) for _ in range(2))
    began = clock[0]
    for _ in range(50):
        one.acquire()
        other.acquire()
    assert clock[0] - began == pytest.approx((100 - one.burst) / 10, abs=0.05)


@pytest.mark.stack
@pytest.mark.django_db
def test_a_real_run_starts_no_more_than_the_rate_in_any_second(pass_machine, settings):
    settings.WORKFLOW_STARTS_PER_SECOND = 10
    requested_orders(40)
    calls = []
    real = sfn.start_execution

    def counted(**kwargs):
        calls.append(time.monotonic())
        return real(**kwargs)

    began = time.monotonic()
    with mock.patch("workflows.starts.sfn.start_execution", side_effect=counted):
        run = workflow_starts_run()

    assert run.started == 40 and run.failed == 0 and run.again_in is None
    assert len(started_arns()) == 40
    # 40 at 10 a second, one token in the bucket: 3.9 s at least, and 11 at most in any second.
    assert calls[-1] - began >= 3.8
    for call in calls:
        assert sum(call <= other < call + 1 for other in calls) <= 10 + 1


# --- Signals: one job where 25 orders a second ask -------------------------------------------------


@pytest.mark.django_db
def test_signals_queue_one_starter_job_a_second_for_the_stage(django_assert_num_queries):
    with mock.patch("workflows.starts.enqueue") as queued:
        for _ in range(30):  # thirty processes, each signalling once within the second
            starts._memo.clear()
            workflow_starts_signal()
        assert queued.call_count == 1
        # Queued to run a second later: after every commit whose signal it stood for.
        assert queued.call_args == mock.call("workflows.order_workflow_starts", countdown=1.0)

        # A process that knows of a job still to run asks nothing of anyone.
        with django_assert_num_queries(0):
            for _ in range(100):
                workflow_starts_signal()
        assert queued.call_count == 1

        time.sleep(1.05)
        starts._memo.clear()
        workflow_starts_signal()
        assert queued.call_count == 2


@pytest.mark.django_db
def test_orders_created_record_their_requests_and_queue_one_job(django_capture_on_commit_callbacks):
    with mock.patch("workflows.starts.enqueue") as queued:
        for n in range(25):
            with django_capture_on_commit_callbacks(execute=True):
                order_create(user_id=f"burst-{n}", items=ITEMS)

    assert queued.call_count == 1
    waiting = starts.requests_waiting()
    assert waiting.count() == 25 and not waiting.filter(started_at__isnull=False).exists()
    assert set(waiting.values_list("name", flat=True)) == {f"order-{o.pk}" for o in Order.objects.all()}


@pytest.mark.django_db
def test_a_starter_leaves_the_work_to_one_that_is_claiming(django_assert_num_queries):
    requested_orders(3)
    Execution.objects.filter(pk=Execution.objects.order_by("pk")[0].pk).update(started_at=timezone.now())

    with django_assert_num_queries(1):
        run = workflow_starts_run()

    assert run.busy and run.started == 0
    # It looks again once that claim would be stale, through the signal (not a chain of its own).
    assert starts.ACTIVE_SECONDS <= run.again_in <= starts.ACTIVE_SECONDS + 1
    with mock.patch("workflows.starts.enqueue") as queued:
        starts.workflow_starts_follow_up(run)
    assert queued.call_args.kwargs["countdown"] == run.again_in


@pytest.mark.django_db
def test_out_of_time_a_starter_hands_on_to_a_continuation():
    requested_orders(3)

    run = workflow_starts_run(deadline=time.monotonic() - 1)

    assert (run.started, run.claims, run.again_in) == (0, 0, 0.0)
    with mock.patch("workflows.starts.enqueue") as queued:
        starts.workflow_starts_follow_up(run)
    queued.assert_called_once_with("workflows.order_workflow_starts", countdown=0)


# --- Failures and idempotency ------------------------------------------------------------------------


@pytest.mark.stack
@pytest.mark.django_db
def test_a_start_refused_keeps_its_request_with_the_error_and_is_tried_again(local_aws, settings):
    settings.ORDER_STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:not-deployed"
    (order,) = requested_orders(1)

    run = workflow_starts_run()

    assert (run.started, run.failed) == (0, 1)
    assert run.again_in == starts.RETRY_SECONDS + 1
    request = Execution.objects.get(order=order)
    assert request.arn == "" and request.status == Execution.Status.PENDING
    assert "StateMachineDoesNotExist" in request.error
    # Not mistaken for a starter at work, and not taken again before RETRY_SECONDS.
    assert not workflow_starts_run().busy
    Execution.objects.filter(pk=request.pk).update(started_at=timezone.now() - timedelta(seconds=starts.CLAIM_SECONDS))
    settings.ORDER_STATE_MACHINE_ARN = None
    resources.reset_cache()
    assert workflow_starts_run().started == 1
    request.refresh_from_db()
    assert request.arn and request.status == Execution.Status.RUNNING and request.error == ""


@pytest.mark.stack
@pytest.mark.django_db
def test_a_request_whose_starter_died_after_starting_it_gets_the_same_execution(local_aws, settings):
    """StartExecution with the same name and input is the same execution (moto as AWS)."""
    settings.ORDER_STATE_MACHINE_ARN = None
    resources.reset_cache()
    (order,) = requested_orders(1)
    request = Execution.objects.get(order=order)
    machine = resources.state_machine_arn()
    first = sfn.start_execution(state_machine_arn=machine, name=request.name, payload=starts.execution_input(order))
    # ... and the starter died before writing the ARN; its claim has gone stale.
    Execution.objects.filter(pk=request.pk).update(started_at=timezone.now() - timedelta(minutes=5))

    assert workflow_starts_run().started == 1

    request.refresh_from_db()
    assert request.arn == first
    assert [e["executionArn"] for e in executions_in_aws(machine)].count(first) == 1


@pytest.mark.stack
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_starters_at_once_start_every_order_once(pass_machine, monkeypatch):
    # Both work at once (neither defers to the other's claims): SKIP LOCKED keeps them apart.
    monkeypatch.setattr(starts, "ACTIVE_SECONDS", -3600)
    orders = requested_orders(300)
    calls, lock = [], threading.Lock()
    real = sfn.start_execution

    def counted(**kwargs):
        with lock:
            calls.append(kwargs["name"])
        return real(**kwargs)

    barrier, runs = threading.Barrier(2), []

    def starter() -> None:
        barrier.wait()
        try:
            runs.append(workflow_starts_run(parallelism=4))
        finally:
            connection.close()

    with mock.patch("workflows.starts.sfn.start_execution", side_effect=counted):
        threads = [threading.Thread(target=starter) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert sorted(run.started for run in runs)[0] > 0, runs  # both took part
    assert sum(run.started for run in runs) == 300 and not any(run.failed for run in runs)
    assert sorted(calls) == sorted(f"order-{o.pk}" for o in orders)  # one call per order
    assert len(started_arns()) == 300
    names = [e["name"] for e in executions_in_aws(pass_machine)]
    assert {f"order-{o.pk}" for o in orders} <= set(names) and len(names) == len(set(names))


# --- The sweep ------------------------------------------------------------------------------------------


class Context:
    def get_remaining_time_in_millis(self):
        return 900_000


@pytest.mark.stack
@pytest.mark.django_db
def test_the_sweep_starts_a_backlog_of_any_size_in_one_run(pass_machine):
    """After a crash: 700 requests nobody started (their starter's job lost), 50 claimed by
    a starter that died, 3 orders whose request itself was lost."""
    waiting = requested_orders(750, age=timedelta(minutes=3))
    Execution.objects.filter(order__in=waiting[:50]).update(started_at=timezone.now() - timedelta(minutes=2))
    lost = Order.objects.bulk_create(Order(user_id=f"lost-{n}", total=Decimal("5")) for n in range(3))
    Order.objects.filter(pk__in=[o.pk for o in lost]).update(created_at=timezone.now() - timedelta(minutes=3))

    with mock.patch("workflows.starts.enqueue") as queued:
        result = handlers.start_missing_executions({"source": "aws.events"}, Context())

    assert result == {"started": 753}
    assert len(started_arns()) == 753 and not starts.requests_waiting().exists()
    queued.assert_not_called()  # nothing left for a continuation


@pytest.mark.django_db
def test_the_sweep_stops_before_its_timeout_and_a_continuation_goes_on():
    requested_orders(5, age=timedelta(minutes=2))

    class EndingContext:
        def get_remaining_time_in_millis(self):
            return 30_000  # less than the minute the sweep keeps in hand

    with mock.patch("workflows.starts.enqueue") as queued:
        assert handlers.start_missing_executions({"source": "aws.events"}, EndingContext()) == {"started": 0}
    queued.assert_called_once_with("workflows.order_workflow_starts", countdown=0)


@pytest.mark.django_db
def test_the_sweep_leaves_requests_of_the_last_minute_to_the_starter_on_its_way(django_assert_num_queries):
    requested_orders(5)

    with django_assert_num_queries(2):  # orders without a request; requests over a minute old
        assert handlers.start_missing_executions({"source": "aws.events"}, Context()) == {"started": 0}
    assert starts.requests_waiting().filter(started_at__isnull=True).count() == 5


# --- The backlog metric and its alarm ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_backlog_counts_requests_waiting_longer_than_the_setting(settings, django_assert_num_queries):
    settings.WORKFLOW_START_BACKLOG_SECONDS = 60
    old = requested_orders(4, age=timedelta(minutes=2))
    requested_orders(2)  # fresh: being started
    Execution.objects.filter(order=old[0]).update(arn="arn:started", status=Execution.Status.RUNNING)
    Execution.objects.filter(order=old[1]).update(started_at=timezone.now())  # claimed, not started yet

    with django_assert_num_queries(1):
        assert starts.workflow_start_backlog() == 3


@pytest.mark.stack
@pytest.mark.django_db
def test_ops_refresh_publishes_the_backlog_where_its_alarm_looks(local_aws):

    from ops import refresh

    requested_orders(3, age=timedelta(minutes=5))

    result = refresh.ops_refresh()

    assert result["start_backlog"] == 3
    cloudwatch = aws.client("cloudwatch")
    alarm = cloudwatch.describe_alarms(AlarmNames=[resource_name("workflow-start-backlog")])["MetricAlarms"][0]
    assert alarm["Dimensions"] == [{"Name": "StateMachineName", "Value": resource_name("order-processing")}]
    values = alarm_metric_maximums(alarm)
    # Other processes of the run publish their own (their database shows none waiting).
    assert values and max(values) == 3


def test_the_backlog_alarm_goes_off_after_five_minutes_of_orders_waiting():
    from infra.deploy import load_template

    resources_ = load_template()["Resources"]
    alarm = resources_["WorkflowStartBacklogAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("OpsConsole", "WorkflowStartBacklog")
    assert alarm["Dimensions"] == [
        {"Name": "StateMachineName", "Value": {"Fn::GetAtt": ["OrderProcessingStateMachine", "Name"]}}
    ]
    assert alarm["Period"] * alarm["DatapointsToAlarm"] == 300 and alarm["TreatMissingData"] == "ignore"
    assert alarm["AlarmActions"] == [{"Ref": "AlertTopic"}]
