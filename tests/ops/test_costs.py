"""The cost arithmetic against the seed's §10 prices, the projection, and the report built
from CloudWatch's answers (stood in for here: tests/ops/test_costs_stack.py reads the local
AWS's)."""

from datetime import UTC, datetime, timedelta
from unittest import mock

import pytest
from django.test import override_settings

from ops import costs
from ops.event_sources import FunctionSize

PRICES = costs.Prices.for_region("us-east-1")

# The seed's §10.1: execution duration cost per ms on x86, by memory.
SEED_PER_MS = {128: 0.0000000021, 512: 0.0000000083, 1024: 0.0000000167, 1769: 0.0000000289, 10240: 0.0000001667}


@pytest.mark.parametrize(("memory_mb", "per_ms"), sorted(SEED_PER_MS.items()))
def test_a_millisecond_costs_what_the_seeds_table_says(memory_mb, per_ms):
    cost = costs.lambda_cost(invocations=0, duration_ms=1, memory_mb=memory_mb, architecture="x86_64", prices=PRICES)

    assert cost == pytest.approx(per_ms, rel=0.01)


def test_a_million_requests_cost_twenty_cents_and_arm64_is_a_fifth_cheaper():
    requests_only = costs.lambda_cost(
        invocations=1_000_000, duration_ms=0, memory_mb=1024, architecture="x86_64", prices=PRICES
    )
    x86 = costs.lambda_cost(invocations=0, duration_ms=3_600_000, memory_mb=1024, architecture="x86_64", prices=PRICES)
    arm = costs.lambda_cost(invocations=0, duration_ms=3_600_000, memory_mb=1024, architecture="arm64", prices=PRICES)

    assert requests_only == pytest.approx(0.20)
    assert x86 == pytest.approx(3600 * 0.0000166667)  # an hour at 1 GB: 3,600 GB-s
    assert arm / x86 == pytest.approx(0.8, abs=0.001)


def test_the_other_services_at_their_list_prices():
    assert costs.states_cost(transitions=4000, prices=PRICES) == pytest.approx(0.10)
    assert costs.sqs_cost(requests=1_000_000, prices=PRICES) == pytest.approx(0.40)
    assert costs.apigateway_cost(requests=1_000_000, prices=PRICES) == pytest.approx(3.50)
    assert costs.s3_requests_cost(put_copy_post_list=1000, get_and_other=1000, prices=PRICES) == pytest.approx(0.0054)
    assert costs.s3_storage_cost(gb_months=2, prices=PRICES) == pytest.approx(0.046)


@override_settings(
    COST_PRICES={
        "default": {**costs.settings.COST_PRICES["default"]},
        "eu-west-1": {"apigateway_requests_per_million": 3.70},
    }
)
def test_a_regions_prices_replace_only_those_it_names():
    eu = costs.Prices.for_region("eu-west-1")

    assert eu.apigateway_requests_per_million == 3.70
    assert eu.sqs_requests_per_million == PRICES.sqs_requests_per_million
    assert costs.Prices.for_region("ap-south-2") == PRICES


def test_the_month_so_far_is_projected_at_the_same_rate():
    now = datetime(2026, 11, 16, tzinfo=UTC)  # November: 30 days, half gone
    start, end = costs.month_bounds(now)

    assert (start, end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert costs.projected(1.25, start=start, now=now, end=end) == pytest.approx(2.50)


def test_storage_counts_each_day_stored_and_keeps_the_latest_size_to_the_months_end():
    start, end = costs.month_bounds(datetime(2026, 11, 16, tzinfo=UTC))
    now = datetime(2026, 11, 16, 12, tzinfo=UTC)
    gib = float(costs.GIB)
    daily = [(start + timedelta(days=day), gib) for day in range(15)] + [(start + timedelta(days=15), 2 * gib)]

    so_far, ahead = costs.storage_gb_months(daily, start=start, now=now, end=end)

    # 15 days of 1 GB and half a day of 2 GB, out of 30; then 2 GB for the 14.5 days left.
    assert so_far == pytest.approx((15 + 1) / 30)
    assert ahead == pytest.approx((15 + 1 + 2 * 14.5) / 30)


# --- The report from CloudWatch's answers ----------------------------------------------------

NOW = datetime(2026, 11, 16, tzinfo=UTC)
DAY1 = datetime(2026, 11, 1, tzinfo=UTC)


def answers(values: dict[tuple[str, str, str], float]):
    """metric_series as CloudWatch would answer it: one point on the 1st for each
    (namespace, metric, first dimension value) named in ``values``."""

    def metric_series(*, queries, start, end):
        return {
            query.id: [(DAY1, values[key])]
            if (key := (query.namespace, query.name, query.dimensions[0][1])) in values
            else []
            for query in queries
        }

    return metric_series


@pytest.fixture
def stage():
    arns = {"order-processing": "arn:sm:processing", "order-saga": "arn:sm:saga"}
    with (
        mock.patch("ops.costs.sqs.stage_queue_names", return_value=["ops-console-test-steps", "ops-console-test-jobs"]),
        mock.patch("ops.costs.resources.state_machine_arn", side_effect=lambda suffix: arns[suffix]),
        mock.patch("ops.costs.resources.files_bucket", return_value="files-bucket"),
        mock.patch("ops.costs.transitions_per_execution", return_value=costs.TransitionSample(12.0, 4, 1)),
    ):
        yield


def report_with(values, sizes):
    with (
        mock.patch("ops.costs.cloudwatch.metric_series", side_effect=answers(values)),
        mock.patch("ops.costs.event_sources.function_size", side_effect=lambda name: sizes[name]),
    ):
        return costs.cost_report(now=NOW)


def line(report, area: str, starts: str):
    found = next(area_cost for area_cost in report.areas if area_cost.area == area)
    return next(item for item in found.lines if item.resource.startswith(starts))


def test_the_report_prices_each_area_and_projects_it(stage):
    api, worker = costs.stage_functions()[costs.API], costs.stage_functions()[costs.WORKER]
    values = {
        ("AWS/ApiGateway", "Count", api): 200_000,
        ("AWS/Lambda", "Invocations", api): 200_000,
        ("AWS/Lambda", "Duration", api): 200_000 * 50,  # 50 ms each
        ("AWS/Lambda", "Invocations", worker): 1000,
        ("AWS/Lambda", "Duration", worker): 1000 * 2000,
        ("AWS/States", "ExecutionsStarted", "arn:sm:processing"): 1000,
        ("AWS/SQS", "NumberOfMessagesSent", "ops-console-test-steps"): 7000,
        ("AWS/SQS", "NumberOfMessagesReceived", "ops-console-test-steps"): 7000,
        ("AWS/SQS", "NumberOfMessagesDeleted", "ops-console-test-steps"): 7000,
        ("AWS/SQS", "NumberOfEmptyReceives", "ops-console-test-steps"): 1000,
        ("AWS/S3", "BucketSizeBytes", "files-bucket"): 3 * float(costs.GIB),
        ("AWS/S3", "PutRequests", "files-bucket"): 2000,
        ("AWS/S3", "GetRequests", "files-bucket"): 10_000,
    }
    sizes = {api: FunctionSize(1024, "x86_64"), worker: FunctionSize(2048, "arm64")}

    report = report_with(values, sizes)

    assert line(report, "api", "API Gateway").so_far == pytest.approx(0.70)
    assert line(report, "api", "Lambda").so_far == pytest.approx(0.04 + 10_000 * 0.0000166667)
    assert line(report, "worker", "Lambda").so_far == pytest.approx(0.0002 + 4000 * 0.0000133334)
    assert line(
        report, "workflows", f"Step Functions {costs.resources.resource_name('order-processing')}"
    ).so_far == pytest.approx(12_000 / 1000 * 0.025)
    assert line(report, "queues", "SQS ops-console-test-steps").so_far == pytest.approx(22_000 / 1e6 * 0.40)
    # 3 GB stored on the 1st (its one daily point): a day of 30 so far; then kept for the 15 days left.
    assert line(report, "storage", "S3 files-bucket storage").so_far == pytest.approx(3 / 30 * 0.023)
    assert line(report, "storage", "S3 files-bucket storage").projected == pytest.approx((3 + 3 * 15) / 30 * 0.023)
    assert line(report, "storage", "S3 files-bucket requests").so_far == pytest.approx(0.01 + 0.004)
    # Half the month gone: everything but storage doubles.
    assert line(report, "api", "Lambda").projected == pytest.approx(2 * line(report, "api", "Lambda").so_far)
    assert report.so_far == pytest.approx(sum(area.so_far for area in report.areas))
    assert [area.label for area in report.areas] == ["API", "Worker", "Workflows", "Queues", "Storage"]
    assert report.warnings == []


def test_levers_an_x86_function_and_a_queue_that_polls_mostly_empty(stage):
    api, worker = costs.stage_functions()[costs.API], costs.stage_functions()[costs.WORKER]
    values = {
        ("AWS/Lambda", "Invocations", api): 1000,
        ("AWS/Lambda", "Duration", api): 1000 * 100,
        ("AWS/Lambda", "Invocations", worker): 10,
        ("AWS/Lambda", "Duration", worker): 10 * 100,
        ("AWS/SQS", "NumberOfMessagesReceived", "ops-console-test-jobs"): 10,
        ("AWS/SQS", "NumberOfEmptyReceives", "ops-console-test-jobs"): 990,
        ("AWS/SQS", "NumberOfMessagesReceived", "ops-console-test-steps"): 600,
        ("AWS/SQS", "NumberOfEmptyReceives", "ops-console-test-steps"): 400,
    }
    sizes = {api: FunctionSize(1024, "x86_64"), worker: FunctionSize(1024, "arm64")}

    report = report_with(values, sizes)

    kinds = [(note.kind, note.resource) for note in report.notes]
    assert ("arm64", api) in kinds and ("arm64", worker) not in kinds
    arm = next(note for note in report.notes if note.kind == "arm64")
    # 100 GB-s so far, 200 by the month's end, at a fifth off.
    assert arm.saving == pytest.approx(200 * (0.0000166667 - 0.0000133334))
    assert "arm64 would save $0.0007 this month" in arm.text and "(20% of its duration cost)" in arm.text
    # 99 % empty gets a note; 40 % does not.
    assert ("empty-receives", "ops-console-test-jobs") in kinds
    assert ("empty-receives", "ops-console-test-steps") not in kinds
    assert "ops-console-test-jobs polls empty 99% of the time (990 empty receives so far" in next(
        note.text for note in report.notes if note.kind == "empty-receives"
    )


def test_a_function_lambda_cannot_describe_is_priced_as_zappa_settings_configures_it(stage):
    from botocore.exceptions import ClientError

    refused = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetFunctionConfiguration")
    with (
        mock.patch("ops.costs.cloudwatch.metric_series", side_effect=answers({})),
        mock.patch("ops.costs.event_sources.function_size", side_effect=refused),
        mock.patch("ops.costs.zappa_stage_settings", return_value={"memory_size": 2048, "architecture": "arm64"}),
    ):
        size = costs.function_size("ops-console-test", warnings := [])

    assert size == FunctionSize(2048, "arm64")
    assert warnings == [
        "Lambda did not describe ops-console-test (AccessDeniedException): priced as zappa_settings.json configures it."
    ]


def test_queues_polling_mostly_empty_past_the_three_costliest_share_one_note(stage):
    names = [f"ops-console-test-q{i}" for i in range(5)]
    values = {("AWS/SQS", "NumberOfEmptyReceives", name): 1000 * (i + 1) for i, name in enumerate(names)}
    with mock.patch("ops.costs.sqs.stage_queue_names", return_value=names):
        report = report_with(values, {name: FunctionSize(1024, "arm64") for name in costs.stage_functions().values()})

    notes = [note for note in report.notes if note.kind == "empty-receives"]
    assert [note.resource for note in notes] == [
        "ops-console-test-q4",
        "ops-console-test-q3",
        "ops-console-test-q2",
        "",
    ]
    assert notes[-1].text.startswith("2 more queues poll empty at least 50% of the time (")
    assert notes[-1].saving == pytest.approx(
        costs.sqs_cost(requests=(1000 + 2000) * 2, prices=PRICES)
    )  # half the month gone


def test_amounts_show_down_to_a_millionth_of_a_dollar():
    assert [costs.money(x) for x in (0, 1234.5, 0.996, 0.0042, 0.000021)] == [
        "$0.00",
        "$1,234.50",
        "$1.00",
        "$0.0042",
        "$0.000021",
    ]
    assert [costs.size_text(x) for x in (512, 4096, 3 * 1024**3)] == ["512 bytes", "4.0 KB", "3.0 GB"]
