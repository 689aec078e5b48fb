"""What the stage costs this month: so far and projected to the month's end, per area (the
API, the worker, the workflows, the queues, the storage), from what AWS counts in
CloudWatch and the list prices in ``settings.COST_PRICES``; and the levers that would pay.

What each area is made of, and the metrics it is priced from:

* **API**: API Gateway requests (AWS/ApiGateway ``Count`` by ApiName, Zappa's API being
  named after the function) and the API function's invocations and duration (AWS/Lambda
  ``Invocations``, ``Duration`` by FunctionName) at its memory and architecture
  (Lambda's GetFunctionConfiguration);
* **worker**: the worker function, likewise;
* **workflows**: Step Functions standard workflows, billed per state transition. CloudWatch
  counts executions per state machine (AWS/States ``ExecutionsStarted``) but not their
  transitions, so transitions are the executions started times the transitions (states
  entered) in the histories of up to ``COST_TRANSITION_SAMPLE`` recent finished executions;
* **queues**: SQS requests of every queue of the stage: AWS/SQS ``NumberOfMessagesSent``,
  ``NumberOfMessagesReceived``, ``NumberOfMessagesDeleted`` and ``NumberOfEmptyReceives``.
  Those count messages, and a batch of up to 10 is one request: an upper bound;
* **storage**: the files bucket's GB-months (AWS/S3 ``BucketSizeBytes``, daily) and its
  requests (the request metrics of its ``EntireBucket`` metrics configuration).

Projection: what is used per second so far, over the whole month; stored bytes stay
stored, so storage adds its latest size for the days left. The account's free tier is not
subtracted (it is the account's, not the stage's).

The report is kept ``COST_CACHE_SECONDS``: it reads some hundred metrics (GetMetricData is
billed per metric) and a few execution histories.
"""

import calendar
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from console.aws import clients as aws
from console.aws import resources
from console.runtime.stage import WORKER_SUFFIX, zappa_stage_settings
from ops import cloudwatch, event_sources, sqs
from ops.cloudwatch import MetricQuery
from workflows import sfn
from workflows.models import Execution

API, WORKER, WORKFLOWS, QUEUES, STORAGE = "api", "worker", "workflows", "queues", "storage"
AREA_LABELS = {API: "API", WORKER: "Worker", WORKFLOWS: "Workflows", QUEUES: "Queues", STORAGE: "Storage"}
STATE_MACHINES = (resources.ORDER_PROCESSING, resources.ORDER_SAGA)
GIB = 1024**3
DAY = timedelta(days=1)
# A queue whose receives come back empty at least this often gets a note.
EMPTY_RECEIVES_NOTE_SHARE = 0.5
# Queues named one by one in those notes (the costliest); the rest share one note.
EMPTY_RECEIVES_NOTES = 3
_CACHE_KEY = "ops:stage-costs"


# --- Prices ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prices:
    """List prices in USD (``settings.COST_PRICES``, one region's)."""

    lambda_requests_per_million: float
    lambda_gb_second: dict[str, float]  # by architecture: x86_64, arm64
    states_transitions_per_thousand: float
    sqs_requests_per_million: float
    s3_gb_month: float
    s3_put_copy_post_list_per_thousand: float
    s3_get_and_other_per_thousand: float
    apigateway_requests_per_million: float

    @classmethod
    def for_region(cls, region: str) -> "Prices":
        """The region's prices over the defaults. Raises KeyError for a price neither names."""
        table = settings.COST_PRICES
        merged = {**table.get("default", {}), **table.get(region, {})}
        return cls(**{name: merged[name] for name in cls.__dataclass_fields__})

    def gb_second(self, architecture: str) -> float:
        return self.lambda_gb_second.get(architecture, self.lambda_gb_second["x86_64"])


# --- Arithmetic --------------------------------------------------------------------------------


def gb_seconds(*, duration_ms: float, memory_mb: int) -> float:
    """Lambda's billed compute: milliseconds run at the function's memory, in GB-seconds."""
    return duration_ms / 1000 * memory_mb / 1024


def lambda_cost(*, invocations: float, duration_ms: float, memory_mb: int, architecture: str, prices: Prices) -> float:
    """Requests plus duration: what §10 of the seed calls Request Cost + Execution Duration Cost."""
    requests = invocations / 1_000_000 * prices.lambda_requests_per_million
    return requests + gb_seconds(duration_ms=duration_ms, memory_mb=memory_mb) * prices.gb_second(architecture)


def states_cost(*, transitions: float, prices: Prices) -> float:
    return transitions / 1000 * prices.states_transitions_per_thousand


def sqs_cost(*, requests: float, prices: Prices) -> float:
    return requests / 1_000_000 * prices.sqs_requests_per_million


def apigateway_cost(*, requests: float, prices: Prices) -> float:
    return requests / 1_000_000 * prices.apigateway_requests_per_million


def s3_requests_cost(*, put_copy_post_list: float, get_and_other: float, prices: Prices) -> float:
    return (
        put_copy_post_list / 1000 * prices.s3_put_copy_post_list_per_thousand
        + get_and_other / 1000 * prices.s3_get_and_other_per_thousand
    )


def s3_storage_cost(*, gb_months: float, prices: Prices) -> float:
    return gb_months * prices.s3_gb_month


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    """The start of ``now``'s month and of the next one (UTC)."""
    start = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(start.year, start.month)[1]
    return start, start + timedelta(days=days)


def projected(so_far: float, *, start: datetime, now: datetime, end: datetime) -> float:
    """``so_far`` at the same rate until ``end``."""
    elapsed = (now - start).total_seconds()
    return so_far * (end - start).total_seconds() / elapsed if elapsed > 0 else so_far


def storage_gb_months(
    daily_bytes: list[tuple[datetime, float]], *, start: datetime, now: datetime, end: datetime
) -> tuple[float, float]:
    """GB-months stored so far and projected to ``end``, from each day's average size
    (BucketSizeBytes): each past day is 1/days-in-month of a month, today the part gone;
    the latest size stays stored for the rest of the month."""
    month_days = (end - start) / DAY
    so_far = 0.0
    for day, size in daily_bytes:
        part = min(1.0, max(0.0, (now - day) / DAY))
        so_far += size / GIB * part / month_days
    latest = daily_bytes[-1][1] if daily_bytes else 0.0
    return so_far, so_far + latest / GIB * ((end - now) / DAY) / month_days


# --- The report --------------------------------------------------------------------------------


class _Amounts:
    so_far: float
    projected: float

    @property
    def so_far_text(self) -> str:
        return money(self.so_far)

    @property
    def projected_text(self) -> str:
        return money(self.projected)


@dataclass
class CostLine(_Amounts):
    """One resource's share of an area: what it used and what that costs."""

    resource: str
    usage: str
    so_far: float
    projected: float


@dataclass
class AreaCost(_Amounts):
    area: str
    lines: list[CostLine] = field(default_factory=list)

    @property
    def label(self) -> str:
        return AREA_LABELS[self.area]

    @property
    def so_far(self) -> float:
        return sum(line.so_far for line in self.lines)

    @property
    def projected(self) -> float:
        return sum(line.projected for line in self.lines)


@dataclass
class CostNote:
    """A lever that would pay: ``saving`` is what it would save this month, projected."""

    kind: str  # "arm64", "empty-receives"
    resource: str
    text: str
    saving: float


@dataclass
class CostReport(_Amounts):
    region: str
    month_start: datetime
    as_of: datetime
    month_end: datetime
    areas: list[AreaCost]
    notes: list[CostNote]
    warnings: list[str]

    @property
    def so_far(self) -> float:
        return sum(area.so_far for area in self.areas)

    @property
    def projected(self) -> float:
        return sum(area.projected for area in self.areas)


def stage_functions() -> dict[str, str]:
    """Area -> the stage's Lambda function: ``<prefix>-<stage>`` (API) and ``...-worker``."""
    base = resources.resource_name("").rstrip("-")
    return {API: base, WORKER: base + WORKER_SUFFIX}


def function_size(name: str, warnings: list[str]) -> event_sources.FunctionSize:
    """As Lambda runs the function; else as zappa_settings.json (not in the Lambda
    package) would deploy it; else Zappa's defaults. Each fallback is said in ``warnings``."""
    try:
        return event_sources.function_size(name)
    except (ClientError, BotoCoreError) as exc:
        reason = f"Lambda did not describe {name} ({aws.error_code(exc) or type(exc).__name__})"
    stage = settings.STAGE + (WORKER_SUFFIX if name.endswith(WORKER_SUFFIX) else "")
    try:
        config = zappa_stage_settings(stage)
    except (FileNotFoundError, KeyError):
        warnings.append(f"{reason}: priced at Zappa's defaults, 512 MB on x86_64.")
        return event_sources.FunctionSize(512, "x86_64")
    warnings.append(f"{reason}: priced as zappa_settings.json configures it.")
    return event_sources.FunctionSize(int(config.get("memory_size", 512)), config.get("architecture", "x86_64"))


@dataclass(frozen=True)
class TransitionSample:
    """States entered per execution (a state transition each, as Step Functions bills
    them), counted in the histories of ``finished`` finished and ``running`` running
    executions (whose count so far is a lower bound of their final one)."""

    per_execution: float
    finished: int
    running: int

    @property
    def read(self) -> int:
        return self.finished + self.running


def transitions_per_execution(state_machine: str, *, sample: int) -> TransitionSample:
    """The mean transitions of up to ``sample`` of the state machine's latest finished
    executions; running ones (latest started first) make up a sample that finished ones
    cannot fill, as orders waiting for approval do."""
    executions = Execution.objects.filter(arn__contains=f":execution:{state_machine}:")
    finished = list(
        executions.filter(stopped_at__isnull=False)
        .exclude(status__in=[Execution.Status.PENDING, Execution.Status.RUNNING])
        .order_by("-stopped_at")
        .values_list("arn", flat=True)[:sample]
    )
    running = list(
        executions.filter(status=Execution.Status.RUNNING)
        .order_by("-started_at")
        .values_list("arn", flat=True)[: sample - len(finished)]
    )
    counts: dict[bool, list[int]] = {True: [], False: []}
    for arn, done in [(arn, True) for arn in finished] + [(arn, False) for arn in running]:
        try:
            events = sfn.execution_history_all(execution_arn=arn)
        except ClientError:  # expired from Step Functions' 90 days of history
            continue
        counts[done].append(sum(1 for event in events if event["type"].endswith("StateEntered")))
    every = counts[True] + counts[False]
    return TransitionSample(sum(every) / len(every) if every else 0.0, len(counts[True]), len(counts[False]))


class _Queries:
    """The report's metrics: each summed over the whole month in one period (one point per
    metric, what the prices need), or, ``daily``, averaged per day (the bucket's size, priced
    by the day). One period, not 31 days of them: CloudWatch sums them the same, and the
    local AWS (moto) scans its data once per period and query."""

    def __init__(self, *, start: datetime, end: datetime) -> None:
        self.queries: list[MetricQuery] = []
        self.month_seconds = math.ceil((end - start).total_seconds() / 60) * 60

    def add(
        self, namespace: str, name: str, dimensions: tuple[tuple[str, str], ...], stat: str = "Sum", daily: bool = False
    ) -> str:
        query_id = f"m{len(self.queries)}"
        period = 86400 if daily else self.month_seconds
        self.queries.append(MetricQuery(query_id, namespace, name, dimensions, stat, period))
        return query_id


def money(amount: float) -> str:
    """$1,234.56; amounts under a dollar to four places ($0.0007), under a hundredth of a
    cent to six ($0.000021), so that a small stage's figures and levers show."""
    if amount >= 0.995 or not amount:
        return f"${amount:,.2f}"
    return f"${amount:.4f}" if amount >= 0.0001 else f"${amount:.6f}"


def size_text(size: float) -> str:
    """Bytes in the largest binary unit under which they are at least 1 (S3 bills GiB)."""
    for unit, factor in (("GB", GIB), ("MB", 1024**2), ("KB", 1024)):
        if size >= factor:
            return f"{size / factor:,.1f} {unit}"
    return f"{size:,.0f} bytes"


def _usage(number: float, unit: str) -> str:
    return f"{number:,.0f} {unit}"


def cost_report(*, now: datetime | None = None) -> CostReport:
    """This month's cost of the stage, read now. Raises botocore's errors when CloudWatch
    does not answer; resources it cannot find are priced at nothing, with a warning."""
    now = now or timezone.now()
    start, end = month_bounds(now)
    region = settings.AWS_REGION
    prices = Prices.for_region(region)
    warnings: list[str] = []
    queries = _Queries(start=start, end=end)

    functions = stage_functions()
    function_ids = {
        area: (
            queries.add("AWS/Lambda", "Invocations", (("FunctionName", name),)),
            queries.add("AWS/Lambda", "Duration", (("FunctionName", name),)),
        )
        for area, name in functions.items()
    }
    api_requests = queries.add("AWS/ApiGateway", "Count", (("ApiName", functions[API]),))

    machines: dict[str, str] = {}
    for suffix in STATE_MACHINES:
        try:
            machines[resources.resource_name(suffix)] = resources.state_machine_arn(suffix)
        except (LookupError, ClientError) as exc:
            warnings.append(f"The state machine {resources.resource_name(suffix)} was not found ({exc}).")
    started_ids = {
        name: queries.add("AWS/States", "ExecutionsStarted", (("StateMachineArn", arn),))
        for name, arn in machines.items()
    }

    queue_metrics = ("NumberOfMessagesSent", "NumberOfMessagesReceived", "NumberOfMessagesDeleted")
    queue_ids = {
        name: {
            metric: queries.add("AWS/SQS", metric, (("QueueName", name),))
            for metric in (*queue_metrics, "NumberOfEmptyReceives")
        }
        for name in sqs.stage_queue_names()
    }

    bucket = resources.files_bucket()
    size_id = queries.add(
        "AWS/S3", "BucketSizeBytes", (("BucketName", bucket), ("StorageType", "StandardStorage")), "Average", daily=True
    )
    objects_id = queries.add(
        "AWS/S3", "NumberOfObjects", (("BucketName", bucket), ("StorageType", "AllStorageTypes")), "Average", daily=True
    )
    request_dimensions = (("BucketName", bucket), ("FilterId", "EntireBucket"))
    tier1_ids = [queries.add("AWS/S3", m, request_dimensions) for m in ("PutRequests", "PostRequests", "ListRequests")]
    tier2_ids = [queries.add("AWS/S3", m, request_dimensions) for m in ("GetRequests", "HeadRequests")]

    series = cloudwatch.metric_series(queries=queries.queries, start=start, end=end)

    def total(query_id: str) -> float:
        return sum(value for _, value in series[query_id])

    def ahead(so_far: float) -> float:
        return projected(so_far, start=start, now=now, end=end)

    areas = {area: AreaCost(area) for area in AREA_LABELS}
    notes: list[CostNote] = []

    # The functions, and the API in front of the API function.
    requests = total(api_requests)
    cost = apigateway_cost(requests=requests, prices=prices)
    areas[API].lines.append(CostLine(f"API Gateway {functions[API]}", _usage(requests, "requests"), cost, ahead(cost)))
    for area, name in functions.items():
        size = function_size(name, warnings)
        invocations, duration = (total(query_id) for query_id in function_ids[area])
        cost = lambda_cost(
            invocations=invocations,
            duration_ms=duration,
            memory_mb=size.memory_mb,
            architecture=size.architecture,
            prices=prices,
        )
        compute = gb_seconds(duration_ms=duration, memory_mb=size.memory_mb)
        usage = (
            f"{invocations:,.0f} invocations, {compute:,.1f} GB-s "
            f"({duration / max(invocations, 1):,.0f} ms on average at {size.memory_mb:,} MB, {size.architecture})"
        )
        areas[area].lines.append(CostLine(f"Lambda {name}", usage, cost, ahead(cost)))
        if size.architecture != "arm64" and compute:
            saving = compute * (prices.gb_second(size.architecture) - prices.gb_second("arm64"))
            share = saving / (compute * prices.gb_second(size.architecture))
            notes.append(
                CostNote(
                    "arm64",
                    name,
                    f"{name} runs on {size.architecture}: arm64 would save {money(ahead(saving))} this month "
                    f"({share:.0%} of its duration cost).",
                    ahead(saving),
                )
            )

    # Step Functions: executions started times transitions per execution.
    for name in machines:
        started = total(started_ids[name])
        sample = transitions_per_execution(name, sample=settings.COST_TRANSITION_SAMPLE)
        if started and not sample.read:
            warnings.append(f"No execution of {name} to count its state transitions in: priced at none.")
        transitions = started * sample.per_execution
        cost = states_cost(transitions=transitions, prices=prices)
        still = f", {sample.running} still running" if sample.running else ""
        usage = (
            f"{started:,.0f} executions × {sample.per_execution:,.1f} transitions "
            f"(mean of {sample.read} recent histories{still}) = {transitions:,.0f} transitions"
        )
        areas[WORKFLOWS].lines.append(CostLine(f"Step Functions {name}", usage, cost, ahead(cost)))

    # SQS: every message sent, received and deleted, and every empty receive.
    empties: list[tuple[float, str, float, float]] = []
    for name, ids in queue_ids.items():
        counts = {metric: total(query_id) for metric, query_id in ids.items()}
        requests = sum(counts.values())
        if not requests:
            continue
        cost = sqs_cost(requests=requests, prices=prices)
        empty, received = counts["NumberOfEmptyReceives"], counts["NumberOfMessagesReceived"]
        usage = (
            f"{requests:,.0f} requests: {counts['NumberOfMessagesSent']:,.0f} sent, {received:,.0f} received, "
            f"{counts['NumberOfMessagesDeleted']:,.0f} deleted, {empty:,.0f} empty receives"
        )
        areas[QUEUES].lines.append(CostLine(f"SQS {name}", usage, cost, ahead(cost)))
        if empty and empty / (empty + received) >= EMPTY_RECEIVES_NOTE_SHARE:
            empties.append((ahead(sqs_cost(requests=empty, prices=prices)), name, empty / (empty + received), empty))
    areas[QUEUES].lines.sort(key=lambda line: -line.so_far)
    empties.sort(reverse=True)
    for saving, name, share, empty in empties[:EMPTY_RECEIVES_NOTES]:
        notes.append(
            CostNote(
                "empty-receives",
                name,
                f"{name} polls empty {share:.0%} of the time ({empty:,.0f} empty receives so far, "
                f"{money(saving)} this month): its consumer's pollers wait on a queue that is mostly idle; "
                "a batching window, or merging it with a busier queue, would cut that.",
                saving,
            )
        )
    if rest := empties[EMPTY_RECEIVES_NOTES:]:
        saving = sum(item[0] for item in rest)
        names = ", ".join(item[1].removeprefix(resources.resource_name("")) for item in rest)
        notes.append(
            CostNote(
                "empty-receives",
                "",
                f"{len(rest)} more queues poll empty at least {EMPTY_RECEIVES_NOTE_SHARE:.0%} of the time "
                f"({names}): {money(saving)} this month together.",
                saving,
            )
        )

    # S3: storage, by day; requests in two price tiers.
    daily = series[size_id]
    gb_months, gb_months_ahead = storage_gb_months(daily, start=start, now=now, end=end)
    objects = series[objects_id][-1][1] if series[objects_id] else 0
    latest = daily[-1][1] if daily else 0
    areas[STORAGE].lines.append(
        CostLine(
            f"S3 {bucket} storage",
            f"{size_text(latest)} in {objects:,.0f} objects, {gb_months:,.6f} GB-months so far",
            s3_storage_cost(gb_months=gb_months, prices=prices),
            s3_storage_cost(gb_months=gb_months_ahead, prices=prices),
        )
    )
    tier1, tier2 = sum(total(i) for i in tier1_ids), sum(total(i) for i in tier2_ids)
    cost = s3_requests_cost(put_copy_post_list=tier1, get_and_other=tier2, prices=prices)
    areas[STORAGE].lines.append(
        CostLine(
            f"S3 {bucket} requests",
            f"{tier1:,.0f} PUT, POST and LIST; {tier2:,.0f} GET and HEAD",
            cost,
            ahead(cost),
        )
    )

    notes.sort(key=lambda note: -note.saving)
    return CostReport(region, start, now, end, list(areas.values()), notes, warnings)


def stage_costs(*, refresh: bool = False) -> CostReport:
    """``cost_report()``, kept ``COST_CACHE_SECONDS``; ``refresh`` reads it again."""
    if not refresh:
        cached = cache.get(_CACHE_KEY)
        if cached is not None:
            return cached
    report = cost_report()
    cache.set(_CACHE_KEY, report, settings.COST_CACHE_SECONDS)
    return report


def report_as_json(report: CostReport) -> dict[str, Any]:
    """The report as the REST API answers it (camelCase, amounts in USD)."""
    return {
        "region": report.region,
        "monthStart": report.month_start,
        "asOf": report.as_of,
        "monthEnd": report.month_end,
        "soFar": report.so_far,
        "projected": report.projected,
        "areas": [
            {
                "area": area.area,
                "label": area.label,
                "soFar": area.so_far,
                "projected": area.projected,
                "lines": [
                    {"resource": line.resource, "usage": line.usage, "soFar": line.so_far, "projected": line.projected}
                    for line in area.lines
                ],
            }
            for area in report.areas
        ],
        "notes": [
            {"kind": note.kind, "resource": note.resource, "text": note.text, "saving": note.saving}
            for note in report.notes
        ],
        "warnings": report.warnings,
    }
