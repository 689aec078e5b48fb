"""The real AWS Lambda event samples in tests/aws_events (their source and licence are in
that folder's README)."""

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

AWS_EVENTS = Path(__file__).resolve().parent / "aws_events"


@cache
def _load(name: str) -> str:
    return (AWS_EVENTS / name).read_text()


def aws_event_text(name: str) -> str:
    """The sample file's text."""
    return _load(name)


def aws_event(name: str) -> dict[str, Any]:
    """A fresh copy of the sample, to change freely."""
    return copy.deepcopy(json.loads(aws_event_text(name)))
