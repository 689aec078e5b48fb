"""Local = AWS, queue for queue: what ``zappa_settings.json`` and ``infra/template.yaml``
say about a stage's queues, consumers and schedules, checked against each other.

    python -m infra.topology [--stage dev] [--zappa-settings PATH] [--template PATH]

prints every queue of the template with its kind, its one consumer, its dead-letter queue,
its visibility timeout against six times its consumer's timeout (AWS's advice for a Lambda
event source) and the dead-letter queue's archive route and depth alarm; then the
schedules; then the problems, each naming the queue, function or file to fix. Exits 1 if
there is any.

A stage's functions are the Zappa stages ``<stage>`` (the API function) and
``<stage>-worker`` (the worker function), as the local consumer runs them. A queue's consumer is one SQS event source of
one of them, Step Functions (an EventBridge pipe from the queue to a state machine), or a
consumer outside this system declared on the queue resource as
``Metadata: {"OpsConsole::Consumer": "external: <who>"}``.

Pure: reads the two files (and the state machine definitions the template names), makes
no AWS call. It imports the handler modules the events name, and reads the Celery queues
from Django's settings, so the caller sets up Django.
"""

import argparse
import importlib
import json
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django
from django.conf import settings

from console.runtime.stage import zappa_stage_settings
from infra.deploy import TEMPLATE, load_template

ROOT = Path(__file__).resolve().parents[1]
ZAPPA_SETTINGS = ROOT / "zappa_settings.json"
ARCHIVE_HANDLER = "ops.handlers.dead_letters_archive"
ZAPPA_ASYNC_IMPORT = re.compile(
    r"^\s*(from zappa\.asynchronous import|from zappa import asynchronous|import zappa\.asynchronous)", re.M
)
CONSUMER_METADATA = "OpsConsole::Consumer"
# AWS: "set the source queue's visibility timeout to at least six times the timeout that
# you configure on your function", so a batch retried after throttling is not received twice.
VISIBILITY_FACTOR = 6
DEFAULT_FUNCTION_TIMEOUT = 30  # Zappa's timeout_seconds when unset
DEFAULT_VISIBILITY_TIMEOUT = 30  # SQS's when unset
# Folders Zappa does not deploy (its exclude_glob), where Zappa async tasks are not looked for.
NOT_DEPLOYED = {"tests", "bench", "infra", "scripts", "docs", "staticfiles", "node_modules"}


@dataclass(frozen=True)
class Function:
    """A Lambda function: one Zappa stage."""

    stage: str
    name: str
    timeout: int


@dataclass(frozen=True)
class Event:
    """One entry of a function's Zappa ``events``: an SQS event source (``queue`` set) or a schedule."""

    function: Function
    handler: str
    queue: str = ""
    batch_size: int = 10
    batch_window: int = 0
    enabled: bool = True
    expression: str = ""


@dataclass(frozen=True)
class Queue:
    """An AWS::SQS::Queue of the template."""

    logical_id: str
    name: str
    visibility_timeout: int
    fifo: bool
    dead_letter: str  # logical id of its DLQ, "" without a redrive policy
    is_dead_letter: bool
    declared_consumer: str  # Metadata OpsConsole::Consumer, "" when undeclared


@dataclass(frozen=True)
class Producer:
    """Something that sends to a queue: ``queue`` is the name it sends to, as far as it resolves."""

    what: str
    queue: str
    fix_in: str


@dataclass
class Topology:
    stage: str
    zappa_settings: Path
    template: Path
    functions: list[Function]
    events: list[Event]
    queues: dict[str, Queue]  # by logical id
    alarms: dict[str, list[str]]  # queue name -> its DeadLetterDepth alarms
    pipes: dict[str, list[str]]  # queue name -> Step Functions consumers (EventBridge pipes)
    producers: list[Producer]
    async_targets: list[tuple[str, str]] = field(default_factory=list)  # (file:line, target function)

    @property
    def sources(self) -> list[Event]:
        return [event for event in self.events if event.queue]

    @property
    def schedules(self) -> list[Event]:
        return [event for event in self.events if event.expression]

    def queue_named(self, name: str) -> Queue | None:
        return next((queue for queue in self.queues.values() if queue.name == name), None)

    def consumers(self, queue: Queue) -> list[str]:
        found = [
            f"{event.function.name}: {event.handler}"
            for event in self.sources
            if event.queue == queue.name and event.enabled
        ]
        found += [f"Step Functions: {machine}" for machine in self.pipes.get(queue.name, [])]
        if queue.declared_consumer:
            found.append(queue.declared_consumer)
        return found

    def where(self, queue: Queue) -> str:
        return f"{queue.name} ({queue.logical_id} in {_shown(self.template)})"


@dataclass(frozen=True)
class QueueRow:
    queue: str
    kind: str
    consumer: str
    dead_letter: str
    visibility: str
    archive: str
    alarm: str


# --- Reading the two files ----------------------------------------------------------------


class _Resolver:
    """The intrinsic functions the template uses, as far as names go: parameters, and the
    Ref/Arn/QueueName/QueueUrl of its queues (account id and region as placeholders)."""

    def __init__(self, resources: dict[str, Any], parameters: dict[str, str]):
        self.resources = resources
        self.parameters = parameters

    def queue_name(self, logical_id: str) -> str | None:
        resource = self.resources.get(logical_id, {})
        if resource.get("Type") != "AWS::SQS::Queue":
            return None
        return self.resolve(resource.get("Properties", {}).get("QueueName"))

    def attribute(self, logical_id: str, attribute: str) -> str | None:
        name = self.queue_name(logical_id)
        if name is None:
            return None
        return {
            "Arn": f"arn:aws:sqs:{self.parameters['AWS::Region']}:{self.parameters['AWS::AccountId']}:{name}",
            "QueueName": name,
            "QueueUrl": f"https://sqs.{self.parameters['AWS::Region']}.amazonaws.com/{name}",
        }.get(attribute)

    def ref(self, name: str) -> str | None:
        if name in self.parameters:
            return self.parameters[name]
        return self.attribute(name, "QueueUrl")

    def resolve(self, value: Any) -> str | None:
        if isinstance(value, str) or value is None:
            return value
        if not isinstance(value, dict) or len(value) != 1:
            return None
        ((function, argument),) = value.items()
        if function == "Ref":
            return self.ref(argument)
        if function == "Fn::GetAtt":
            logical_id, attribute = argument if isinstance(argument, list) else argument.split(".", 1)
            return self.attribute(logical_id, attribute)
        if function == "Fn::Sub":
            text, variables = (argument, {}) if isinstance(argument, str) else argument

            def substitute(match: re.Match) -> str:
                name = match.group(1)
                if name in variables:
                    found = self.resolve(variables[name])
                elif "." in name:
                    found = self.attribute(*name.split(".", 1))
                else:
                    found = self.ref(name)
                return found if found is not None else match.group(0)

            return re.sub(r"\$\{([^}!]+)\}", substitute, text)
        return None

    def logical_id(self, value: Any) -> str | None:
        """The resource a Ref or Fn::GetAtt names."""
        if isinstance(value, dict) and "Ref" in value:
            return value["Ref"]
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            argument = value["Fn::GetAtt"]
            return argument[0] if isinstance(argument, list) else argument.split(".", 1)[0]
        return None


def _queue_name_of(address: str | None) -> str:
    """The queue an SQS ARN or URL names; other text as it is (a problem will show it)."""
    if not address:
        return str(address)
    match = re.fullmatch(r"arn:aws[\w-]*:sqs:[^:]*:[^:]*:([^:/]+)|https?://[^/]+(?:/[^/]+)*/([^/]+)", address)
    return (match.group(1) or match.group(2)) if match else address


def _functions(stage: str, path: Path) -> list[tuple[Function, dict[str, Any]]]:
    stage_names = [name for name in (stage, f"{stage}-worker") if name in json.loads(path.read_text())]
    if stage not in stage_names:
        raise KeyError(f"{_shown(path)} has no stage {stage!r}")
    functions = []
    for name in stage_names:
        stage_settings = zappa_stage_settings(name, path)
        timeout = int(stage_settings.get("timeout_seconds", DEFAULT_FUNCTION_TIMEOUT))
        functions.append((Function(name, f"{stage_settings['project_name']}-{name}", timeout), stage_settings))
    return functions


def _events(function: Function, stage_settings: dict[str, Any]) -> list[Event]:
    events = []
    for entry in stage_settings.get("events", []):
        source = entry.get("event_source")
        if source and ":sqs:" in source.get("arn", ""):
            batch_size = int(source.get("batch_size", 10))
            events.append(
                Event(
                    function,
                    entry["function"],
                    queue=_queue_name_of(source["arn"]),
                    batch_size=batch_size,
                    # Zappa asks for a one-second batching window above 10 messages.
                    batch_window=int(source.get("batch_window", 1 if batch_size > 10 else 0)),
                    enabled=bool(source.get("enabled", True)),
                )
            )
        elif "expression" in entry or "expressions" in entry:
            for expression in entry.get("expressions") or [entry["expression"]]:
                events.append(Event(function, entry["function"], expression=expression))
    return events


def _queues(resources: dict[str, Any], resolver: _Resolver) -> dict[str, Queue]:
    redrive_targets = {
        resolver.logical_id(resource["Properties"]["RedrivePolicy"].get("deadLetterTargetArn"))
        for resource in resources.values()
        if resource["Type"] == "AWS::SQS::Queue" and "RedrivePolicy" in resource.get("Properties", {})
    }
    queues = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::SQS::Queue":
            continue
        properties = resource.get("Properties", {})
        redrive = properties.get("RedrivePolicy") or {}
        queues[logical_id] = Queue(
            logical_id=logical_id,
            name=resolver.queue_name(logical_id) or f"<{logical_id} has no QueueName>",
            visibility_timeout=int(properties.get("VisibilityTimeout", DEFAULT_VISIBILITY_TIMEOUT)),
            fifo=str(properties.get("FifoQueue", "false")).lower() == "true",
            dead_letter=resolver.logical_id(redrive.get("deadLetterTargetArn")) or "",
            is_dead_letter=logical_id in redrive_targets or logical_id.endswith("DeadLetterQueue"),
            declared_consumer=str((resource.get("Metadata") or {}).get(CONSUMER_METADATA, "")),
        )
    return queues


def _dead_letter_alarms(resources: dict[str, Any], resolver: _Resolver) -> dict[str, list[str]]:
    alarms: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        if resource["Type"] != "AWS::CloudWatch::Alarm" or properties.get("MetricName") != "DeadLetterDepth":
            continue
        if properties.get("Namespace") != "OpsConsole":
            continue
        for dimension in properties.get("Dimensions", []):
            if dimension.get("Name") == "QueueName":
                alarms.setdefault(resolver.resolve(dimension.get("Value")) or "", []).append(logical_id)
    return alarms


def _pipes(resources: dict[str, Any], resolver: _Resolver) -> dict[str, list[str]]:
    """Queues read by Step Functions: EventBridge pipes from a queue to a state machine."""
    pipes: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Pipes::Pipe":
            continue
        properties = resource.get("Properties", {})
        source = resolver.logical_id(properties.get("Source"))
        target = resolver.logical_id(properties.get("Target"))
        if resources.get(target or "", {}).get("Type") == "AWS::StepFunctions::StateMachine":
            name = resolver.queue_name(source or "")
            if name:
                pipes.setdefault(name, []).append(f"{target} (pipe {logical_id})")
    return pipes


def _state_machine_sends(properties: dict[str, Any], template_dir: Path) -> list[str]:
    """The QueueUrl of every sqs:sendMessage task of a state machine's definition."""
    if "Definition" in properties:
        definition = properties["Definition"]
    elif isinstance(properties.get("DefinitionS3Location"), str):
        definition = json.loads((template_dir / properties["DefinitionS3Location"]).read_text())
    elif isinstance(properties.get("DefinitionString"), str):
        definition = json.loads(properties["DefinitionString"])
    else:
        return []
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("Type") == "Task" and ":sqs:sendMessage" in str(node.get("Resource", "")):
                arguments = node.get("Parameters") or node.get("Arguments") or {}
                if "QueueUrl" in arguments:
                    found.append(str(arguments["QueueUrl"]))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(definition)
    return found


def _template_producers(template_path: Path, resources: dict[str, Any], resolver: _Resolver) -> list[Producer]:
    """S3 notifications, SNS subscriptions, EventBridge targets and state machine tasks."""
    shown = _shown(template_path)
    producers = []
    for logical_id, resource in resources.items():
        properties = resource.get("Properties", {})
        match resource["Type"]:
            case "AWS::S3::Bucket":
                for notification in (properties.get("NotificationConfiguration") or {}).get("QueueConfigurations", []):
                    queue = _queue_name_of(resolver.resolve(notification.get("Queue")))
                    producers.append(Producer(f"S3 notifications of {logical_id}", queue, shown))
            case "AWS::SNS::Subscription" if properties.get("Protocol") == "sqs":
                queue = _queue_name_of(resolver.resolve(properties.get("Endpoint")))
                producers.append(Producer(f"SNS subscription {logical_id}", queue, shown))
            case "AWS::Events::Rule":
                for target in properties.get("Targets", []):
                    target_id = resolver.logical_id(target.get("Arn")) or ""
                    address = resolver.resolve(target.get("Arn")) or ""
                    if resources.get(target_id, {}).get("Type") == "AWS::SQS::Queue" or ":sqs:" in address:
                        producers.append(Producer(f"EventBridge rule {logical_id}", _queue_name_of(address), shown))
            case "AWS::StepFunctions::StateMachine":
                substitutions = properties.get("DefinitionSubstitutions") or {}
                for sent in dict.fromkeys(_state_machine_sends(properties, template_path.parent)):
                    key = re.fullmatch(r"\$\{(\w+)\}", sent)
                    address = (
                        resolver.resolve(substitutions[key.group(1)]) if key and key.group(1) in substitutions else sent
                    )
                    producers.append(Producer(f"Step Functions {logical_id} ({sent})", _queue_name_of(address), shown))
    return producers


def _code_producers(
    functions: list[Function], stage_settings: dict[str, dict], prefix: str, stage: str, zappa: Path
) -> list[Producer]:
    """Celery's queues (Django settings) and Zappa's dead_letter_arn of each function."""
    routes = getattr(settings, "CELERY_TASK_ROUTES", None) or {}
    celery = [("CELERY_TASK_DEFAULT_QUEUE", getattr(settings, "CELERY_TASK_DEFAULT_QUEUE", "celery"))]
    for router in routes if isinstance(routes, list | tuple) else [routes]:
        for pattern, route in router.items() if isinstance(router, dict) else []:
            queue = route if isinstance(route, str) else route.get("queue")
            if queue:
                celery.append((f"CELERY_TASK_ROUTES[{pattern!r}]", getattr(queue, "name", queue)))
    # kombu's queue_name_prefix (console/runtime/celery.py) is "<prefix>-<stage>-".
    producers = [
        Producer(f"Celery {setting}", f"{prefix}-{stage}-{queue}", "console/settings") for setting, queue in celery
    ]
    for function in functions:
        arn = stage_settings[function.stage].get("dead_letter_arn", "")
        if ":sqs:" in arn:
            what = f"failed async invocations of {function.name} (dead_letter_arn)"
            producers.append(Producer(what, _queue_name_of(arn), _shown(zappa)))
    return producers


def _zappa_async_targets(source_root: Path) -> list[tuple[str, str]]:
    """Where the deployed code uses Zappa async tasks: (file:line, the function named by
    ``remote_aws_lambda_function_name``, "" where none is: the caller's own function)."""
    found = []
    packages = [
        path
        for path in source_root.iterdir()
        if (path / "__init__.py").exists() and path.name not in NOT_DEPLOYED and not path.name.startswith(".")
    ]
    for path in sorted(file for package in packages for file in package.rglob("*.py")):
        text = path.read_text(errors="replace")
        if not ZAPPA_ASYNC_IMPORT.search(text):
            continue
        for number, line in enumerate(text.splitlines(), 1):
            target = re.search(r"remote_aws_lambda_function_name\s*=\s*[\"']([^\"']+)[\"']", line)
            if target or ZAPPA_ASYNC_IMPORT.search(line):
                found.append((f"{_shown(path)}:{number}", target.group(1) if target else ""))
    return found


def load_topology(
    stage: str = "dev",
    zappa_settings: Path = ZAPPA_SETTINGS,
    template: Path = TEMPLATE,
    source_root: Path = ROOT,
) -> Topology:
    functions_and_settings = _functions(stage, zappa_settings)
    functions = [function for function, _ in functions_and_settings]
    stage_settings = {function.stage: values for function, values in functions_and_settings}
    document = load_template(template)
    resources = document.get("Resources", {})
    api_settings = stage_settings[stage]
    prefix = (api_settings.get("environment_variables") or {}).get("RESOURCE_PREFIX") or str(
        document.get("Parameters", {}).get("Prefix", {}).get("Default", api_settings["project_name"])
    )
    parameters = {
        **{key: str(spec.get("Default", "")) for key, spec in document.get("Parameters", {}).items()},
        "Prefix": prefix,
        "Stage": stage,
        "AWS::Region": api_settings.get("aws_region", "us-east-1"),
        "AWS::AccountId": "<account>",
        "AWS::Partition": "aws",
    }
    resolver = _Resolver(resources, parameters)
    return Topology(
        stage=stage,
        zappa_settings=zappa_settings,
        template=template,
        functions=functions,
        events=[event for function, values in functions_and_settings for event in _events(function, values)],
        queues=_queues(resources, resolver),
        alarms=_dead_letter_alarms(resources, resolver),
        pipes=_pipes(resources, resolver),
        producers=list(
            dict.fromkeys(
                _template_producers(template, resources, resolver)
                + _code_producers(functions, stage_settings, prefix, stage, zappa_settings)
            )
        ),
        async_targets=_zappa_async_targets(source_root),
    )


# --- Checks: each returns its problems ----------------------------------------------------


def _handler_problem(dotted: str) -> str:
    module_name, _, attribute = dotted.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as error:  # noqa: BLE001 - a module that fails to import is the finding
        return f"module {module_name} does not import ({type(error).__name__}: {error})"
    if not callable(getattr(module, attribute, None)):
        return f"module {module_name} has no callable {attribute}"
    return ""


def check_handlers(topology: Topology) -> list[str]:
    """Every event's function (SQS handler or schedule) exists and is callable."""
    found = []
    for stage, handler in dict.fromkeys((event.function.stage, event.handler) for event in topology.events):
        problem = _handler_problem(handler)
        if problem:
            found.append(f"{handler} (stage {stage} of {_shown(topology.zappa_settings)}): {problem}")
    return found


def check_consumers(topology: Topology) -> list[str]:
    """Every queue has exactly one consumer."""
    found = []
    stages = " or ".join(function.stage for function in topology.functions)
    for queue in topology.queues.values():
        if queue.declared_consumer and not re.fullmatch(r"external: *\S.*", queue.declared_consumer):
            found.append(
                f"{topology.where(queue)}: Metadata {CONSUMER_METADATA} is {queue.declared_consumer!r}; "
                'only "external: <who>" declares a consumer outside this system'
            )
        consumers = topology.consumers(queue)
        disabled = [e for e in topology.sources if e.queue == queue.name and not e.enabled]
        if not consumers:
            found.append(
                f"{topology.where(queue)}: no consumer"
                + (f" (its event source in stage {disabled[0].function.stage} is disabled)" if disabled else "")
                + f". Add an SQS event source for it to one stage of {_shown(topology.zappa_settings)} ({stages}),"
                f' or declare Metadata {CONSUMER_METADATA}: "external: <who>" on {queue.logical_id}'
            )
        elif len(consumers) > 1:
            found.append(
                f"{topology.where(queue)}: {len(consumers)} consumers ({'; '.join(consumers)}); keep exactly one"
            )
    return found


def check_dead_letter_queues(topology: Topology) -> list[str]:
    """Every work queue has a DLQ; every DLQ has its archive route and its depth alarm."""
    found = []
    for queue in topology.queues.values():
        if not queue.is_dead_letter and not queue.dead_letter:
            found.append(f"{topology.where(queue)}: no dead-letter queue (RedrivePolicy.deadLetterTargetArn)")
        if not queue.is_dead_letter:
            continue
        if not any(e.queue == queue.name and e.enabled and e.handler == ARCHIVE_HANDLER for e in topology.sources):
            found.append(
                f"{topology.where(queue)}: dead-letter queue without its archive route: add an event source "
                f"{ARCHIVE_HANDLER} for it to the worker stage of {_shown(topology.zappa_settings)}"
            )
        if not topology.alarms.get(queue.name):
            found.append(
                f"{topology.where(queue)}: dead-letter queue without a depth alarm: add an AWS::CloudWatch::Alarm "
                f"(OpsConsole/DeadLetterDepth, QueueName = Fn::GetAtt [{queue.logical_id}, QueueName])"
            )
    return found


def check_producers(topology: Topology) -> list[str]:
    """Every queue something sends to is a queue of the template."""
    return [
        f"{producer.what} sends to {producer.queue}, which is no queue of {_shown(topology.template)} "
        f"(fix {producer.fix_in} or add the queue)"
        for producer in topology.producers
        if topology.queue_named(producer.queue) is None
    ]


def check_visibility_timeouts(topology: Topology) -> list[str]:
    """A queue read by a function is invisible for at least six times the function's timeout."""
    found = []
    for event in topology.sources:
        queue = topology.queue_named(event.queue)
        needed = VISIBILITY_FACTOR * event.function.timeout
        if queue and queue.visibility_timeout < needed:
            found.append(
                f"{topology.where(queue)}: VisibilityTimeout {queue.visibility_timeout} s is below "
                f"{VISIBILITY_FACTOR} x {event.function.name}'s timeout ({event.function.timeout} s) = {needed} s"
            )
    return found


def check_schedules(topology: Topology) -> list[str]:
    """No function is scheduled by two Lambda functions (it would run twice)."""
    by_handler: dict[str, list[Event]] = {}
    for event in topology.schedules:
        by_handler.setdefault(event.handler, []).append(event)
    return [
        f"{handler} is scheduled by {len({e.function for e in events})} functions "
        f"({', '.join(f'{e.function.name} {e.expression}' for e in events)}): keep it in one stage of "
        f"{_shown(topology.zappa_settings)}"
        for handler, events in by_handler.items()
        if len({event.function for event in events}) > 1
    ]


def check_event_sources(topology: Topology) -> list[str]:
    """Every event source reads a queue of the template, in batches SQS allows."""
    found = []
    for event in topology.sources:
        where = f"event source {event.handler} of stage {event.function.stage} ({_shown(topology.zappa_settings)})"
        queue = topology.queue_named(event.queue)
        if queue is None:
            found.append(f"{where}: {event.queue} is no queue of {_shown(topology.template)}")
            continue
        # AWS: at most 10 for FIFO queues, and for standard queues without a batching window.
        limit = 10_000 if not queue.fifo and event.batch_window > 0 else 10
        if not 1 <= event.batch_size <= limit:
            found.append(f"{where}: batch_size {event.batch_size} for {queue.name} is outside 1..{limit}")
    return found


def check_async_tasks(topology: Topology) -> list[str]:
    """Zappa async tasks run in one of the stage's functions."""
    names = {function.name for function in topology.functions}
    return [
        f"{where}: Zappa async task runs in {target}, which is none of the stage's functions "
        f"({', '.join(sorted(names))})"
        for where, target in topology.async_targets
        if target and target not in names
    ]


CHECKS = [
    check_consumers,
    check_handlers,
    check_dead_letter_queues,
    check_producers,
    check_visibility_timeouts,
    check_schedules,
    check_event_sources,
    check_async_tasks,
]


def problems(topology: Topology) -> list[str]:
    return [problem for check in CHECKS for problem in check(topology)]


# --- The table ----------------------------------------------------------------------------


def queue_rows(topology: Topology) -> list[QueueRow]:
    rows = []
    for queue in topology.queues.values():
        dead_letter = queue if queue.is_dead_letter else topology.queues.get(queue.dead_letter)
        timeouts = [e.function.timeout for e in topology.sources if e.queue == queue.name and e.enabled]
        visibility = f"{queue.visibility_timeout}"
        if timeouts:
            needed = VISIBILITY_FACTOR * max(timeouts)
            verdict = ">=" if queue.visibility_timeout >= needed else "< TOO SHORT:"
            visibility += f" {verdict} {needed} ({VISIBILITY_FACTOR}x{max(timeouts)})"
        archives = [
            e.function.name
            for e in topology.sources
            if dead_letter and e.queue == dead_letter.name and e.enabled and e.handler == ARCHIVE_HANDLER
        ]
        rows.append(
            QueueRow(
                queue=queue.name,
                kind="dead-letter queue" if queue.is_dead_letter else "work queue",
                consumer=" + ".join(topology.consumers(queue)) or "NONE",
                dead_letter="-" if queue.is_dead_letter else (dead_letter.name if dead_letter else "NONE"),
                visibility=visibility,
                archive=", ".join(archives) or ("MISSING" if dead_letter else "-"),
                alarm=(", ".join(topology.alarms.get(dead_letter.name, [])) or "MISSING") if dead_letter else "-",
            )
        )
    return rows


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def render(topology: Topology, found: list[str]) -> str:
    lines = [f"Stage {topology.stage}: {_shown(topology.zappa_settings)} against {_shown(topology.template)}", ""]
    lines += _table(
        ["FUNCTION", "ZAPPA STAGE", "TIMEOUT"],
        [[f.name, f.stage, f"{f.timeout} s"] for f in topology.functions],
    )
    lines += [""]
    lines += _table(
        ["QUEUE", "KIND", "CONSUMER", "DLQ", "VISIBILITY (s)", "DLQ ARCHIVE", "DLQ ALARM"],
        [[r.queue, r.kind, r.consumer, r.dead_letter, r.visibility, r.archive, r.alarm] for r in queue_rows(topology)],
    )
    lines += ["", "Sent to by"]
    lines += _table(
        ["  PRODUCER", "QUEUE"],
        [[f"  {producer.what}", producer.queue] for producer in topology.producers],
    )[1:]
    used_in = sorted({where.rsplit(":", 1)[0] for where, _ in topology.async_targets})
    lines += [f"  Zappa async tasks: {', '.join(used_in) or 'none used'}", ""]
    lines += _table(
        ["SCHEDULE", "EXPRESSION", "FUNCTION"],
        [[e.handler, e.expression, e.function.name] for e in topology.schedules],
    )
    lines += ["", f"Problems: {len(found) or 'none'}"]
    lines += [f"- {problem}" for problem in found]
    return "\n".join(lines)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="dev")
    parser.add_argument("--zappa-settings", type=Path, default=ZAPPA_SETTINGS)
    parser.add_argument("--template", type=Path, default=TEMPLATE)
    args = parser.parse_args(argv)
    topology = load_topology(args.stage, args.zappa_settings, args.template)
    found = problems(topology)
    print(render(topology, found))
    return 1 if found else 0


if __name__ == "__main__":
    # Handler modules import Django models: the caller's settings, or local development's.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "console.settings.dev")
    django.setup()
    sys.exit(main())
