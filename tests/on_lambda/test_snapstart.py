"""SnapStart (console.runtime.snapstart): which stage takes it, what the hooks leave behind.
The package's own run of the hooks, restored twice, is in test_package.py."""

import gc
import random
import sys

import pytest

from console.aws import clients as aws
from console.platform import observability
from console.runtime import deferred_imports, snapstart
from tests.on_lambda.conftest import zappa_cli


@pytest.mark.parametrize(
    ("stage", "snap_start", "qualifier"),
    [("prod", "PublishedVersions", "snapstart"), ("prod-worker", "None", None), ("dev", "None", None)],
)
def test_only_the_prod_api_function_takes_snapstart(stage, snap_start, qualifier):
    # As Zappa's CLI reads the stage: with SnapStart on, API Gateway calls the alias Zappa
    # moves to each published version once its snapshot is ready, never $LATEST.
    cli = zappa_cli(stage)
    assert cli.snap_start == snap_start
    assert cli.apigateway_lambda_qualifier == qualifier
    assert cli.provisioned_concurrency is None  # AWS refuses both on one function


def test_snapstart_is_on_only_while_lambda_initialises_for_a_snapshot():
    assert snapstart.enabled({"AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"})
    assert not snapstart.enabled({"AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand"})
    assert not snapstart.enabled({})


def test_each_deferral_can_be_switched_off(monkeypatch):
    made = []
    monkeypatch.setattr(deferred_imports, "DEFERRALS", {name: lambda n=name: made.append(n) for name in ("a", "b")})

    assert deferred_imports.defer_startup_imports({}) == ["a", "b"]
    assert deferred_imports.defer_startup_imports({"DEFERRED_IMPORTS_OFF": "b"}) == ["a"]
    assert deferred_imports.defer_startup_imports({"DEFERRED_IMPORTS_OFF": " a, b"}) == []
    assert deferred_imports.defer_startup_imports({"DEFERRED_IMPORTS_OFF": "all"}) == []
    assert made == ["a", "b", "a"]


def test_after_a_restore_nothing_unique_to_the_snapshot_is_left(monkeypatch):
    import boto3

    monkeypatch.setattr(observability, "_cold_start", False)  # as after an invocation
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", boto3.session.Session())
    snapshot_client = aws.client("sqs")
    random.seed(1234)
    snapshot_draw = random.Random(1234).random()  # what every restored copy would draw next

    snapstart.refresh_after_restore()

    assert random.random() != snapshot_draw
    assert aws.client("sqs") is not snapshot_client
    assert boto3.DEFAULT_SESSION is None
    assert observability._cold_start is True
    aws.reset_clients()


def test_before_the_snapshot_everything_is_set_up_and_no_connection_is_open(zappa_handler):
    from django.db import connections

    gc.disable()  # as the handler's import leaves it
    try:
        warmed = snapstart.prepare_snapshot()
    finally:
        gc.unfreeze()
        gc.enable()

    assert warmed["url_patterns"] > 100 and warmed["templates"] > 50 and warmed["serializers"] > 20
    # Every module an event is routed to, and the AWS SDK, are imported.
    assert warmed["modules"] >= len(snapstart.AWS_MODULES) + 6
    assert {"boto3", "botocore.client", "workflows.handlers", "ops.handlers", "realtime.handlers"} <= set(sys.modules)
    assert [c.alias for c in connections.all(initialized_only=True) if c.connection is not None] == []
