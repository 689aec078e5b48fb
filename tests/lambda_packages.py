"""The Lambda packages of the test session, each built at most once (``make package``'s
pipeline, infra/package.py) and shared by the tests that run or deploy them:
tests/on_lambda/test_package.py and tests/infra/test_rehearsal.py.

They are built for this machine's architecture (they run here), not the stage's arm64.
The virtualenv, the site-packages and the collected static files are made once for all
packages; a package is built when a test first asks for it, into ``.lambda/`` where
``make package`` writes it.

Under pytest-xdist (``make test``) those tests may run in two workers at once, and both
build into ``.lambda/``: a file lock lets one build at a time, and a package the other
worker built in the same run (``PYTEST_XDIST_TESTRUNUID``) is taken as it is. (xdist's
``loadgroup`` would keep them in one worker, but it groups nothing on pytest 9.2:
pytest-dev/pytest-xdist#1386.)
"""

import fcntl
import json
import os
import sys
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from infra import package as packaging

RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID", "")


@contextmanager
def _building():
    packaging.WORKDIR.mkdir(parents=True, exist_ok=True)
    with open(packaging.WORKDIR / ".tests.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _built_in_this_run(stage: str) -> Path:
    return packaging.WORKDIR / f".tests-built-{stage}.json"


@cache
def _prepared() -> packaging.Prepared:
    # The tests run the packages on this machine: built for its architecture, whatever the
    # stage deploys (tests/infra/test_package_platform.py checks the arm64 build).
    return packaging.prepare(architecture=packaging.host_architecture(), python=sys.executable)


@cache
def lambda_package(zappa_stage: str = "dev") -> packaging.PackageReport:
    """The package of one Zappa stage (``dev``: the API function, ``dev-worker``: the worker)."""
    with _building():
        note = _built_in_this_run(zappa_stage)
        if RUN and note.exists():
            built = json.loads(note.read_text())
            if built["run"] == RUN and Path(built["path"]).exists():
                return packaging.PackageReport(
                    Path(built["path"]),
                    built["zipped_bytes"],
                    built["unzipped_bytes"],
                    built["files"],
                    built["architecture"],
                    built["compiled_files"],
                )
        report = packaging.package_stage(_prepared(), zappa_stage)
        note.write_text(
            json.dumps(
                {
                    "run": RUN,
                    "path": str(report.path),
                    "zipped_bytes": report.zipped_bytes,
                    "unzipped_bytes": report.unzipped_bytes,
                    "files": report.files,
                    "architecture": report.architecture,
                    "compiled_files": report.compiled_files,
                }
            )
        )
        return report


@cache
def arm64_package() -> packaging.PackageReport:
    """The API function's package as the stage deploys it (arm64), to check, not to run here:
    ``.lambda/tests-arm64/ops-console-dev.zip``."""
    with _building():
        prepared = packaging.prepare(architecture="arm64", python=sys.executable)
        return packaging.package_stage(prepared, "dev", packaging.WORKDIR / "tests-arm64" / "ops-console-dev.zip")
