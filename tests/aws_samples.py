"""The real AWS Lambda event samples every developer and CI run has at ../shared/aws-events.

A test that needs one skips with a clear reason where the folder is missing (a checkout
without its shared folder next to it), instead of failing to load.
"""

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

AWS_EVENTS = Path(__file__).resolve().parents[1].parent / "shared" / "aws-events"


@cache
def _load(name: str) -> str:
    return (AWS_EVENTS / name).read_text()


def aws_event_text(name: str) -> str:
    """The sample file's text; skips the calling test when the shared samples are absent."""
    if not (AWS_EVENTS / name).exists():
        pytest.skip(f"needs the shared AWS event sample ../shared/aws-events/{name}")
    return _load(name)


def aws_event(name: str) -> dict[str, Any]:
    """A fresh copy of the sample, to change freely."""
    return copy.deepcopy(json.loads(aws_event_text(name)))
