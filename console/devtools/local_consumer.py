"""Local stand-in for Lambda: the stage's functions, their event source mappings, their
schedules and their execution environments.

The functions come from zappa_settings.json, one routing table for both runtimes: the API
function (Zappa stage ``<stage>``) and the worker function (``<stage>-worker``), each with
its timeout, its reserved concurrency (``lambda_concurrency``), its SQS event sources and
its schedules. Then, as Lambda does:

* **Execution environments.** A function's invocations run in processes of its own, each
  importing the code once and serving one invocation at a time, at most
  ``LOCAL_LAMBDA_CONCURRENCY`` at once per function (2 by default, never more than its
  reserved concurrency). An invocation still running at the function's timeout is killed
  with its process ("timed out"), and a new process takes the next invocation. The
  processes die with the consumer.
* **SQS event sources.** Each queue is long-polled with its batch size. Received messages
  stay invisible for the queue's visibility timeout while they wait for a free environment
  (a throttled function, on AWS) and run. Messages the function reports in
  ``batchItemFailures`` stay on the queue, and so does the whole batch when the invocation
  raises or times out; the rest are deleted. SQS itself moves a message to its dead-letter
  queue after maxReceiveCount receives. A queue gets more pollers, up to the function's
  concurrency, while its polls come back with messages.
* **Event source mappings.** At start the functions and their SQS mappings are created in
  the local AWS's Lambda where missing, as ``zappa deploy`` creates them on AWS, and their
  states are read again every few seconds: a disabled (paused) mapping's queue is not
  polled, so the console pauses and resumes a queue with the same Lambda call on both.
* **Schedules.** ``rate(...)`` expressions invoke the function asynchronously; a failed
  invocation is retried twice, one and then two minutes later, and then its event goes to
  the function's ``dead_letter_arn`` queue, as Lambda's asynchronous invocation does
  (``cron(...)`` schedules only run on AWS).

Every invocation ends with a ``REPORT`` line, as on Lambda: function, source, records,
duration, the function's timeout and the outcome; and, as Lambda does, it counts in the
function's AWS/Lambda metrics (Invocations, Duration, Errors by FunctionName), put into the
local AWS's CloudWatch every ``LOCAL_AWS_METRICS_SECONDS`` (``console.devtools.local_metrics``).
"""

import contextlib
import importlib
import io
import json
import logging
import multiprocessing
import os
import re
import signal
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings

from console.aws import clients as aws
from console.devtools import local_metrics
from console.runtime.stage import function_stages, zappa_stage_settings

logger = logging.getLogger(__name__)

# Lambda's asynchronous invocation: two retries, about one and two minutes apart.
ASYNC_RETRY_DELAYS = (60, 120)


@dataclass(frozen=True)
class SqsRoute:
    function: str
    queue_name: str
    batch_size: int


@dataclass(frozen=True)
class Schedule:
    function: str
    seconds: int


@dataclass(frozen=True)
class LocalFunction:
    """One Lambda function of the stage, as zappa_settings.json defines it."""

    name: str  # <project_name>-<zappa stage>, as Zappa names it
    zappa_stage: str
    timeout_seconds: int
    reserved_concurrency: int | None
    dead_letter_arn: str
    routes: tuple[SqsRoute, ...] = field(default=())
    schedules: tuple[Schedule, ...] = field(default=())
    role_name: str = ""
    handler: str = ""
    runtime: str = "python3.12"
    memory_size: int = 512
    architecture: str = "x86_64"


def _routes(config: dict[str, Any]) -> list[SqsRoute]:
    routes = []
    for event in config.get("events", []):
        source = event.get("event_source", {})
        arn = source.get("arn", "")
        if arn.startswith("arn:aws:sqs:") and source.get("enabled", True):
            routes.append(SqsRoute(event["function"], arn.rsplit(":", 1)[-1], int(source.get("batch_size", 10))))
    return routes


_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def _schedules(config: dict[str, Any]) -> list[Schedule]:
    found = []
    for event in config.get("events", []):
        match = _RATE.match(event.get("expression", ""))
        if match:
            found.append(Schedule(event["function"], int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]))
    return found


def stage_functions(stage: str, path: Path | None = None) -> list[LocalFunction]:
    """The Lambda functions of a deployment stage (its API and worker Zappa stages)."""
    functions = []
    for zappa_stage in function_stages(stage, path):
        config = zappa_stage_settings(zappa_stage, path)
        functions.append(
            LocalFunction(
                name=f"{config['project_name']}-{zappa_stage}",
                zappa_stage=zappa_stage,
                timeout_seconds=int(config.get("timeout_seconds", 30)),
                reserved_concurrency=config.get("lambda_concurrency"),
                dead_letter_arn=config.get("dead_letter_arn", ""),
                routes=tuple(_routes(config)),
                schedules=tuple(_schedules(config)),
                role_name=config.get("role_name", ""),
                handler=config.get("lambda_handler", ""),
                runtime=config.get("runtime", "python3.12"),
                # Zappa's defaults where zappa_settings.json is silent.
                memory_size=int(config.get("memory_size", 512)),
                architecture=config.get("architecture", "x86_64"),
            )
        )
    return functions


def sqs_routes(stage: str) -> list[SqsRoute]:
    """Every SQS event source of the stage's functions."""
    return [route for function in stage_functions(stage) for route in function.routes]


def schedules(stage: str) -> list[Schedule]:
    """Every ``rate(...)`` schedule of the stage's functions (cron expressions are left to AWS)."""
    return [schedule for function in stage_functions(stage) for schedule in function.schedules]


def import_function(dotted: str) -> Callable:
    module_name, _, attribute = dotted.rpartition(".")
    return getattr(importlib.import_module(module_name), attribute)


class LambdaContext:
    """The parts of Lambda's context object our functions read."""

    def __init__(self, function_name: str, timeout_seconds: float = 30, request_id: str | None = None):
        self.function_name = function_name
        self.aws_request_id = request_id or str(uuid.uuid4())
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# --- Execution environments -----------------------------------------------------------------


class InvocationFailed(Exception):
    """The invocation raised, timed out or lost its environment: nothing it returned counts."""

    def __init__(self, outcome: str, detail: str):
        super().__init__(f"{outcome}: {detail}")
        self.outcome = outcome


def _die_with_parent() -> None:
    """This process ends at once when the consumer that started it dies, as a Lambda
    execution environment ends with its host (a watchdog thread: Linux's parent-death
    signal would follow the thread that started the process, not the process)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGKILL)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _environment_main(connection, function_name: str, timeout_seconds: int) -> None:
    """An execution environment: set up once, then serve invocations until the pipe closes."""
    _die_with_parent()
    import django

    django.setup()
    from django.db import close_old_connections

    connection.send(("ready", None))  # the init phase is over; invocations are timed from here
    functions: dict[str, Callable] = {}
    while True:
        try:
            path, event, request_id = connection.recv()
        except (EOFError, OSError):
            return
        context = LambdaContext(function_name, timeout_seconds, request_id)
        close_old_connections()
        try:
            function = functions.get(path) or functions.setdefault(path, import_function(path))
            reply = ("ok", function(event, context))
        except Exception as exc:
            logger.exception("%s raised", path)
            reply = ("error", f"{type(exc).__name__}: {exc}")
        finally:
            close_old_connections()
        try:
            connection.send(reply)
        except (BrokenPipeError, OSError):
            return


# Lambda gives a function's init phase (imports, Django set up) 10 s of its own, apart from
# the invocation's timeout; a loaded machine gets more here.
INIT_SECONDS = 60


class _Environment:
    def __init__(self, function: LocalFunction):
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(
            target=_environment_main,
            args=(child, function.name, function.timeout_seconds),
            name=f"lambda-{function.name}",
            daemon=True,
        )
        self.process.start()
        child.close()
        try:
            if not self.connection.poll(INIT_SECONDS):
                raise InvocationFailed("init timed out", f"after {INIT_SECONDS} s")
            self.connection.recv()
        except (EOFError, OSError) as exc:
            self.kill()
            raise InvocationFailed("init failed", f"{type(exc).__name__}, exit code {self.process.exitcode}") from None
        except InvocationFailed:
            self.kill()
            raise

    def kill(self) -> None:
        with contextlib.suppress(Exception):
            self.process.kill()
            self.process.join(5)
        self.connection.close()


class FunctionEnvironments:
    """The execution environments of one function: at most ``size`` invocations at once."""

    def __init__(self, function: LocalFunction, size: int, *, metrics: local_metrics.MetricBuffer | None = None):
        self.function = function
        self.size = size
        self.metrics = metrics
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[_Environment] = []
        self._all: list[_Environment] = []
        self._lock = threading.Lock()

    def invoke(self, path: str, event: dict[str, Any], *, source: str) -> Any:
        """Run ``path(event, context)`` in a free environment (waiting for one); raises
        ``InvocationFailed`` when it raises, dies or outlives the function's timeout."""
        records = len(event.get("Records", [])) if isinstance(event, dict) else 0
        with self._slots:
            request_id = str(uuid.uuid4())
            try:
                environment = self._take()
                started = time.monotonic()
                status, value = self._run(environment, (path, event, request_id))
            except InvocationFailed as exc:
                started = time.monotonic()
                status, value = exc.outcome, str(exc)
            duration = (time.monotonic() - started) * 1000
        outcome = status
        if status == "ok" and isinstance(value, dict) and value.get("batchItemFailures"):
            outcome = f"{len(value['batchItemFailures'])}_failed"
        logger.info(
            "REPORT function=%s source=%s records=%d duration_ms=%.1f timeout_s=%d outcome=%s request_id=%s",
            self.function.name,
            source,
            records,
            duration,
            self.function.timeout_seconds,
            outcome.replace(" ", "_"),
            request_id,
        )
        if self.metrics is not None:
            local_metrics.lambda_invocation(
                self.metrics, function_name=self.function.name, duration_ms=duration, error=status != "ok"
            )
        if status != "ok":
            raise InvocationFailed(status, value)
        return value

    def _run(self, environment: _Environment, message: tuple) -> tuple[str, Any]:
        try:
            environment.connection.send(message)
            if not environment.connection.poll(self.function.timeout_seconds):
                self._discard(environment)
                raise InvocationFailed("timed out", f"after {self.function.timeout_seconds} s")
            status, value = environment.connection.recv()
        except (EOFError, OSError) as exc:
            environment.process.join(2)
            self._discard(environment)
            detail = f"{type(exc).__name__} {exc}, exit code {environment.process.exitcode}"
            raise InvocationFailed("environment died", detail) from None
        self._give_back(environment)
        return status, value

    def _take(self) -> _Environment:
        """An idle environment, or a new one once its init phase is over (a cold start)."""
        with self._lock:
            while self._idle:
                environment = self._idle.pop()
                if environment.process.is_alive():
                    return environment
                self._all.remove(environment)
        environment = _Environment(self.function)
        with self._lock:
            self._all.append(environment)
        return environment

    def _give_back(self, environment: _Environment) -> None:
        with self._lock:
            self._idle.append(environment)

    def _discard(self, environment: _Environment) -> None:
        with self._lock:
            if environment in self._all:
                self._all.remove(environment)
        environment.kill()

    def close(self) -> None:
        with self._lock:
            environments, self._all, self._idle = self._all, [], []
        for environment in environments:
            environment.connection.close()  # the process ends when its invocation does
        deadline = time.monotonic() + 10
        for environment in environments:
            environment.process.join(max(0.0, deadline - time.monotonic()))
            if environment.process.is_alive():
                environment.kill()


def local_concurrency(function: LocalFunction) -> int:
    configured = int(os.environ.get("LOCAL_LAMBDA_CONCURRENCY", "2"))
    return max(1, min(configured, function.reserved_concurrency or configured))


# --- Event sources --------------------------------------------------------------------------


def _lambda_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    converted = {}
    for name, value in attributes.items():
        converted[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": value.get("BinaryListValues", []),
            "dataType": value["DataType"],
        }
    return converted


def lambda_sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": _lambda_attributes(message.get("MessageAttributes", {})),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


# --- Event source mappings -------------------------------------------------------------------

# A mapping in these states is not polled (Lambda's own states; the local AWS answers
# Enabled or Disabled).
NOT_POLLED = {"Disabled", "Disabling", "Deleting"}
# How often the mappings' states are read again: how long a pause takes to be seen.
MAPPING_REFRESH_SECONDS = 2.0
# Lambda needs code to create a function; the local one never runs it (this process does).
_PLACEHOLDER_CODE = b"# The local consumer (console.devtools.local_consumer) runs this function.\n"


def _placeholder_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("local_consumer_runs_this.py", _PLACEHOLDER_CODE)
    return buffer.getvalue()


def _function_name(function_arn: str) -> str:
    return function_arn.split(":function:", 1)[-1].split(":", 1)[0]


class EventSourceMappings(threading.Thread):
    """The stage's SQS event source mappings, held by the local AWS's Lambda as by AWS's.

    ``register`` creates the functions and their mappings where they are missing, as
    ``zappa deploy`` does (a mapping that exists keeps its state: a paused queue stays
    paused when the consumer restarts). Running, the thread reads every mapping's state
    each ``MAPPING_REFRESH_SECONDS``, so the console's pause and resume (Lambda's
    UpdateEventSourceMapping, the same call on AWS) stop and start the pollers.
    """

    def __init__(self, functions: list[LocalFunction], stop: threading.Event, *, refresh_seconds: float = 0):
        super().__init__(name="event-source-mappings", daemon=True)
        self.functions = functions
        self.stop_event = stop
        self.refresh_seconds = refresh_seconds or MAPPING_REFRESH_SECONDS
        self._states: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def register(self) -> None:
        lam, sqs = aws.client("lambda"), aws.client("sqs")
        account = aws.client("sts").get_caller_identity()["Account"]
        for function in self.functions:
            if not function.routes:
                continue
            function_arn = self._function(lam, function, account)
            for route in function.routes:
                url = sqs.get_queue_url(QueueName=route.queue_name)["QueueUrl"]
                attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
                queue_arn = attributes["QueueArn"]
                existing = lam.list_event_source_mappings(EventSourceArn=queue_arn)["EventSourceMappings"]
                if any(_function_name(mapping["FunctionArn"]) == function.name for mapping in existing):
                    continue
                # As Zappa does: the function by its ARN, the batch size of zappa_settings.json.
                lam.create_event_source_mapping(
                    FunctionName=function_arn, EventSourceArn=queue_arn, BatchSize=route.batch_size, Enabled=True
                )
                logger.info("event source mapping created: %s -> %s", route.queue_name, function.name)
        self.refresh()

    def _function(self, lam, function: LocalFunction, account: str) -> str:
        try:
            return lam.get_function(FunctionName=function.name)["Configuration"]["FunctionArn"]
        except lam.exceptions.ResourceNotFoundException:
            pass
        return lam.create_function(
            FunctionName=function.name,
            Runtime=function.runtime,
            Role=f"arn:aws:iam::{account}:role/{function.role_name}",
            Handler=function.handler,
            Code={"ZipFile": _placeholder_zip()},
            Timeout=function.timeout_seconds,
            # What the cost page reads (GetFunctionConfiguration), as Zappa sets it on AWS.
            MemorySize=function.memory_size,
            Architectures=[function.architecture],
            Description="Played by the local consumer",
        )["FunctionArn"]

    def refresh(self) -> None:
        names = {function.name for function in self.functions}
        states = {}
        for page in aws.client("lambda").get_paginator("list_event_source_mappings").paginate():
            for mapping in page["EventSourceMappings"]:
                function_name = _function_name(mapping["FunctionArn"])
                if function_name in names:
                    states[(function_name, mapping["EventSourceArn"].rsplit(":", 1)[-1])] = mapping["State"]
        with self._lock:
            changed = {key: state for key, state in states.items() if self._states.get(key) != state}
            self._states = states
        for (function_name, queue_name), state in sorted(changed.items()):
            logger.info("event source mapping %s -> %s: %s", queue_name, function_name, state)

    def polled(self, function_name: str, queue_name: str) -> bool:
        """Whether the queue's mapping to the function lets it be polled: not paused, and
        there (a deleted mapping is not polled, as on AWS)."""
        with self._lock:
            state = self._states.get((function_name, queue_name))
        return state is not None and state not in NOT_POLLED

    def run(self) -> None:
        while not self.stop_event.wait(self.refresh_seconds):
            try:
                self.refresh()
            except Exception:
                logger.warning("could not read the event source mappings; keeping their last states", exc_info=True)


class QueuePoller(threading.Thread):
    """One poller of a queue's event source. ``function`` is called as Lambda would call
    the routed function: in-process for tests and benchmarks, or through a function's
    execution environments (``consume``). A poller started as an extra one (``extra``)
    ends at its first empty poll; the first poller of a queue starts extras, up to
    ``max_pollers``, while its polls return messages."""

    def __init__(
        self,
        route: SqsRoute,
        stop: threading.Event,
        wait_seconds: int = 2,
        *,
        function: Callable[[dict, Any], Any] | None = None,
        max_pollers: int = 1,
        extra: bool = False,
        siblings: list | None = None,
        mapping: Callable[[], bool] | None = None,
    ):
        super().__init__(name=f"poll-{route.queue_name}{'+' if extra else ''}", daemon=True)
        self.route = route
        self.stop_event = stop
        self.wait_seconds = wait_seconds
        self.function = function
        self.max_pollers = max_pollers
        self.extra = extra
        self.siblings = siblings if siblings is not None else []
        # Whether the queue's event source mapping is enabled (None: always, as in tests
        # that run a poller alone).
        self.mapping = mapping

    def run(self) -> None:
        sqs = aws.client("sqs")
        function = self.function or import_function(self.route.function)
        queue_url = sqs.get_queue_url(QueueName=self.route.queue_name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        if not self.extra:
            logger.info("polling %s for %s", self.route.queue_name, self.route.function)
        while not self.stop_event.is_set():
            if self.mapping is not None and not self.mapping():
                if self.extra:
                    return
                self.stop_event.wait(1)  # paused: Lambda does not poll a disabled mapping
                continue
            try:
                received = self.poll_once(sqs, function, queue_url, queue_arn)
            except Exception:
                logger.exception("polling %s failed; retrying", self.route.queue_name)
                self.stop_event.wait(2)
                continue
            if received is None and self.extra:
                return
            if received and not self.extra:
                self._scale_up()

    def _scale_up(self) -> None:
        self.siblings[:] = [poller for poller in self.siblings if poller.is_alive()]
        if len(self.siblings) + 1 >= self.max_pollers:
            return
        poller = QueuePoller(
            self.route,
            self.stop_event,
            self.wait_seconds,
            function=self.function,
            extra=True,
            siblings=self.siblings,
            mapping=self.mapping,
        )
        self.siblings.append(poller)
        poller.start()

    def poll_once(self, sqs, function: Callable, queue_url: str, queue_arn: str) -> int | None:
        """Receive one batch and hand it to ``function``. Returns how many messages were
        deleted (done), or None when the queue had nothing."""
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=min(self.route.batch_size, 10),
            WaitTimeSeconds=self.wait_seconds,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return None
        event = lambda_sqs_event(messages, queue_arn, settings.AWS_REGION)
        try:
            result = function(event, LambdaContext(self.route.function))
        except Exception as exc:
            logger.warning(
                "%s: %s; the batch of %d stays on the queue", self.route.function, exc, len(messages), exc_info=True
            )
            return 0
        failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(
                QueueUrl=queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return len(done)


class Scheduler(threading.Thread):
    """Invokes a scheduled function every ``seconds`` with an EventBridge-shaped event,
    asynchronously: failures are retried twice and then dead-lettered."""

    def __init__(
        self,
        schedule: Schedule,
        stop: threading.Event,
        *,
        function: Callable[[dict, Any], Any] | None = None,
        dead_letter_arn: str = "",
        retry_delays: tuple[int, ...] = ASYNC_RETRY_DELAYS,
    ):
        super().__init__(name=f"schedule-{schedule.function}", daemon=True)
        self.schedule = schedule
        self.stop_event = stop
        self.function = function
        self.dead_letter_arn = dead_letter_arn
        self.retry_delays = retry_delays

    def run(self) -> None:
        function = self.function or import_function(self.schedule.function)
        while not self.stop_event.wait(self.schedule.seconds):
            event = {
                "version": "0",
                "id": str(uuid.uuid4()),
                "source": "aws.events",
                "detail-type": "Scheduled Event",
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "region": settings.AWS_REGION,
                "resources": [],
                "detail": {},
            }
            self.invoke(function, event, attempt=0)

    def invoke(self, function: Callable, event: dict[str, Any], *, attempt: int) -> None:
        try:
            result = function(event, LambdaContext(self.schedule.function))
            logger.info("%s: %s", self.schedule.function, result)
            return
        except Exception as exc:
            error = exc
        if attempt < len(self.retry_delays):
            delay = self.retry_delays[attempt]
            logger.warning("scheduled %s failed (%s); retried in %d s", self.schedule.function, error, delay)
            timer = threading.Timer(delay, self.invoke, args=(function, event), kwargs={"attempt": attempt + 1})
            timer.daemon = True
            timer.start()
            return
        logger.error(
            "scheduled %s failed %d times (%s); its event is dead-lettered", self.schedule.function, attempt + 1, error
        )
        self.dead_letter(event, error)

    def dead_letter(self, event: dict[str, Any], error: Exception) -> None:
        """What Lambda sends to a function's dead-letter queue after its async retries."""
        if not self.dead_letter_arn:
            return
        sqs = aws.client("sqs")
        try:
            url = sqs.get_queue_url(QueueName=self.dead_letter_arn.rsplit(":", 1)[-1])["QueueUrl"]
            sqs.send_message(
                QueueUrl=url,
                MessageBody=json.dumps(event),
                MessageAttributes={
                    "RequestID": {"DataType": "String", "StringValue": str(uuid.uuid4())},
                    "ErrorCode": {"DataType": "Number", "StringValue": "200"},
                    "ErrorMessage": {"DataType": "String", "StringValue": str(error)[:1000] or type(error).__name__},
                },
            )
        except Exception:
            logger.exception("could not dead-letter the event of %s", self.schedule.function)


def consume(stop: threading.Event, stage: str | None = None, *, skip_queues: set[str] = frozenset()) -> list[Any]:
    """Start every function of the stage (environments, pollers, schedules); they run until
    ``stop`` is set. ``skip_queues`` are queue names another consumer reads (a Celery
    worker). Returns what to join or close."""
    stage = stage or settings.STAGE
    started: list[Any] = []
    functions = stage_functions(stage)
    metrics = local_metrics.MetricBuffer(local_metrics.cloudwatch_put(lambda: aws.client("cloudwatch")))
    mappings: EventSourceMappings | None = EventSourceMappings(functions, stop)
    try:
        mappings.register()
    except Exception:
        # The local AWS without the stack's role (deploy_infra not run): poll regardless.
        logger.warning("could not register the event source mappings; every queue is polled", exc_info=True)
        mappings = None
    else:
        started.append(mappings)
    for local_function in functions:
        environments = FunctionEnvironments(local_function, local_concurrency(local_function), metrics=metrics)
        started.append(environments)
        for route in local_function.routes:
            if route.queue_name in skip_queues:
                logger.info("not polling %s: another consumer reads it", route.queue_name)
                continue

            def invoke(event, context, _route=route, _environments=environments):
                return _environments.invoke(_route.function, event, source=_route.queue_name)

            polled = (
                None
                if mappings is None
                else lambda _name=local_function.name, _queue=route.queue_name: mappings.polled(_name, _queue)
            )
            started.append(QueuePoller(route, stop, function=invoke, max_pollers=environments.size, mapping=polled))
        for schedule in local_function.schedules:

            def invoke_scheduled(event, context, _schedule=schedule, _environments=environments):
                return _environments.invoke(_schedule.function, event, source=f"schedule:{_schedule.seconds}s")

            started.append(
                Scheduler(schedule, stop, function=invoke_scheduled, dead_letter_arn=local_function.dead_letter_arn)
            )
    for item in started:
        if isinstance(item, threading.Thread):
            item.start()
    started.append(metrics.run(stop))
    return started
