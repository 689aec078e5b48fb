"""The stage's functions as zappa_settings.json describes them: what the local stack plays
(``console.devtools.local_consumer``), what the package and topology tools read (``infra``),
and where the console finds a function's settings (``ops.sqs``).

Plain Python, no Django: the infra tools read it without settings. The Lambda package
leaves zappa_settings.json out (Zappa compiles it into its own module), so callers on
Lambda expect ``FileNotFoundError``.
"""

import json
from pathlib import Path
from typing import Any

SETTINGS_PATH = Path(__file__).resolve().parents[2] / "zappa_settings.json"
WORKER_SUFFIX = "-worker"


def zappa_stage_settings(stage: str, path: Path | None = None) -> dict[str, Any]:
    """The settings of ``stage`` in zappa_settings.json, with ``extends`` resolved.
    Raises ``KeyError`` for a stage it does not have."""
    path = path or SETTINGS_PATH
    all_stages = json.loads(path.read_text())
    if stage not in all_stages:
        raise KeyError(f"zappa_settings.json has no stage {stage!r}")
    stage_settings = dict(all_stages[stage])
    parent = stage_settings.pop("extends", None)
    if parent:
        merged = zappa_stage_settings(parent, path)
        merged.update(stage_settings)
        return merged
    return stage_settings


def function_stages(stage: str, path: Path | None = None) -> list[str]:
    """The Zappa stages of a deployment stage: ``dev`` gives ``dev`` (the API function) and
    ``dev-worker`` (the worker function), when zappa_settings.json has it; a worker stage's
    name gives itself alone. Raises ``KeyError`` for a stage it does not have."""
    names = json.loads((path or SETTINGS_PATH).read_text())
    if stage not in names:
        raise KeyError(f"zappa_settings.json has no stage {stage!r}")
    if stage.endswith(WORKER_SUFFIX):
        return [stage]
    return [name for name in (stage, stage + WORKER_SUFFIX) if name in names]


def sqs_event_sources(stage: str, path: Path | None = None) -> list[dict[str, Any]]:
    """The SQS event sources of a deployment stage's functions: for each, the Lambda
    function (``<project_name>-<zappa stage>``, as Zappa names it), the Python function
    Zappa routes its records to, the queue's ARN, the batch size and whether zappa_settings
    has it enabled. Raises ``KeyError`` for a stage it does not have."""
    sources = []
    for zappa_stage in function_stages(stage, path):
        config = zappa_stage_settings(zappa_stage, path)
        for event in config.get("events", []):
            source = event.get("event_source", {})
            if source.get("arn", "").startswith("arn:aws:sqs:"):
                sources.append(
                    {
                        "function": f"{config['project_name']}-{zappa_stage}",
                        "handler": event["function"],
                        "queue_arn": source["arn"],
                        "batch_size": int(source.get("batch_size", 10)),
                        "enabled": bool(source.get("enabled", True)),
                    }
                )
    return sources
