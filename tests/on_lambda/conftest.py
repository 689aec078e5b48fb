"""Fixtures that run Zappa's real handler in the test process.

``zappa_handler`` writes the ``zappa_settings.py`` module Zappa generates into every
package (with Zappa's own code, from zappa_settings.json, plus any events a test adds),
puts it where Zappa's handler imports it from, and gives back the entry points: ours
(``console.runtime.lambda_handler.lambda_handler``) and Zappa's. Django is the test process's, on
the test database; the environment Zappa's handler changes is put back afterwards.
"""

import copy
import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from console.devtools.local_consumer import LambdaContext

ROOT = Path(__file__).resolve().parents[2]
STAGE = "dev"


@cache
def zappa_cli(stage: str = STAGE):
    """Zappa's CLI with the stage's settings loaded (no AWS credentials needed)."""
    from zappa.cli import ZappaCLI

    cli = ZappaCLI()
    cli.api_stage = stage
    cli.load_credentials = False
    previous = Path.cwd()
    os.chdir(ROOT)
    try:
        cli.load_settings(str(ROOT / "zappa_settings.json"))
    finally:
        os.chdir(previous)
    return cli


def generated_settings(extra_events: list[dict[str, Any]] = (), stage: str = STAGE) -> str:
    """The text of the zappa_settings.py module Zappa writes into the package."""
    cli = zappa_cli(stage)
    loaded = copy.deepcopy(cli.zappa_settings)
    try:
        if extra_events:
            cli.zappa_settings[stage]["events"] = [*cli.stage_config.get("events", []), *extra_events]
        return cli.get_zappa_settings_string()
    finally:
        cli.zappa_settings = loaded


@dataclass
class ZappaHandler:
    ours: Callable[[dict, Any], Any]
    zappas: Callable[[dict, Any], Any]
    settings_module: Any

    def __call__(self, event: dict, context: Any = None) -> Any:
        return self.ours(event, context or LambdaContext("ops-console-dev"))

    def rule_name(self, function: str) -> str:
        """The EventBridge rule name Zappa gives a schedule of ``function``."""
        cli = zappa_cli()
        return cli.zappa.get_scheduled_event_name({"function": function}, function, cli.lambda_name)


def _reset_zappa() -> None:
    from zappa import handler

    handler.LambdaHandler._LambdaHandler__instance = None
    handler.LambdaHandler.settings = None
    handler.global_handler = None


@pytest.fixture
def zappa_handler_factory(tmp_path: Path) -> Iterator[Callable[..., ZappaHandler]]:
    from django.core import signals
    from django.db import close_old_connections

    # As Django's test client does: requests must not close the test's database connection.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    environ = dict(os.environ)
    root_level = logging.getLogger().level
    added_paths: list[str] = []

    def make(extra_events: list[dict[str, Any]] = ()) -> ZappaHandler:
        folder = tmp_path / f"settings-{len(added_paths)}"
        folder.mkdir()
        (folder / "zappa_settings.py").write_text(generated_settings(extra_events))
        sys.path.insert(0, str(folder))
        added_paths.append(str(folder))
        sys.modules.pop("zappa_settings", None)
        _reset_zappa()
        from zappa import handler

        from console.runtime import lambda_handler

        return ZappaHandler(
            ours=lambda_handler.lambda_handler,
            zappas=handler.lambda_handler,
            settings_module=importlib.import_module("zappa_settings"),
        )

    yield make
    _reset_zappa()
    sys.modules.pop("zappa_settings", None)
    for path in added_paths:
        sys.path.remove(path)
    os.environ.clear()
    os.environ.update(environ)
    logging.getLogger().setLevel(root_level)
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def zappa_handler(zappa_handler_factory) -> ZappaHandler:
    return zappa_handler_factory()


@pytest.fixture
def lambda_hosts(settings):
    """The hosts the stage allows (zappa_settings.json), as the function would."""
    hosts = zappa_cli().stage_config["environment_variables"]["DJANGO_ALLOWED_HOSTS"]
    settings.ALLOWED_HOSTS = hosts.split(",")
    return settings.ALLOWED_HOSTS


# --- AWS calls of the whole test run (for test_iam_policy.py) --------------------------------

AWS_CALL_LOG = Path(os.environ.get("TEST_ARTIFACTS_DIR") or ROOT / "test-artifacts") / "aws-calls"
RECORDER = ROOT / "tests" / "aws_calls"
FULL_SUITE = pytest.StashKey[bool]()
WHOLE_SUITE_NOTE = "whole-suite"


def pytest_configure(config: pytest.Config) -> None:
    """Record the AWS calls of this process and of every process it starts (through
    tests/aws_calls/sitecustomize.py on PYTHONPATH).

    A run starts an empty log, except in pytest-xdist's workers (their controller did) and
    in the run of the IAM policy tests that follows an xdist run (``OPS_AWS_CALLS_KEEP=1``,
    as ``make test`` does): it reads the calls the workers recorded."""
    import shutil

    if not (os.environ.get("PYTEST_XDIST_WORKER") or os.environ.get("OPS_AWS_CALLS_KEEP") == "1"):
        shutil.rmtree(AWS_CALL_LOG, ignore_errors=True)
    AWS_CALL_LOG.mkdir(parents=True, exist_ok=True)
    os.environ["OPS_AWS_CALL_LOG"] = str(AWS_CALL_LOG)
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(RECORDER), os.environ.get("PYTHONPATH", "")]))
    sys.path.insert(0, str(RECORDER))
    import aws_call_recorder

    aws_call_recorder.install()


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """The IAM policy tests go last, after every other test made its AWS calls. Whether the
    whole suite runs decides if "every granted action was used" can be checked.

    Under pytest-xdist no test can wait for the other workers' calls: the policy tests are
    left out there, and ``make test`` runs them next with ``OPS_AWS_CALLS_KEEP=1``; the xdist
    run leaves a note in the call log when it was the whole suite."""
    policy_tests = [item for item in items if item.path.name == "test_iam_policy.py"]
    items[:] = [item for item in items if item.path.name != "test_iam_policy.py"] + policy_tests
    whole = {Path(arg.split("::", 1)[0]).resolve() for arg in config.args} <= {ROOT / "tests", ROOT}
    whole = bool(
        whole
        and not config.option.keyword
        and not config.option.markexpr
        and not config.getoption("deselect", None)
        and not config.getoption("lf", False)
    )
    note = AWS_CALL_LOG / WHOLE_SUITE_NOTE
    if os.environ.get("PYTEST_XDIST_WORKER"):
        if policy_tests:
            items[:] = items[: len(items) - len(policy_tests)]
            config.hook.pytest_deselected(items=policy_tests)
        if whole:
            note.write_text("whole suite\n")
        else:
            note.unlink(missing_ok=True)
        whole = False
    elif os.environ.get("OPS_AWS_CALLS_KEEP") == "1":
        whole = note.exists()
    config.stash[FULL_SUITE] = whole
