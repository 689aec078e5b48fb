"""The Lambda packages of the test session, each built at most once (``make package``'s
pipeline, infra/package.py) and shared by the tests that run or deploy them:
tests/on_lambda/test_package.py and tests/infra/test_rehearsal.py.

The virtualenv, Zappa's wheel cache and the collected static files are made once for all
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
def _prepared_venv() -> Path:
    return packaging.prepare(python=sys.executable)


@cache
def lambda_package(zappa_stage: str = "dev") -> packaging.PackageReport:
    """The package of one Zappa stage (``dev``: the API function, ``dev-worker``: the worker)."""
    with _building():
        note = _built_in_this_run(zappa_stage)
        if RUN and note.exists():
            built = json.loads(note.read_text())
            if built["run"] == RUN and Path(built["path"]).exists():
                return packaging.PackageReport(
                    Path(built["path"]), built["zipped_bytes"], built["unzipped_bytes"], built["files"]
                )
        report = packaging.package_stage(_prepared_venv(), zappa_stage)
        note.write_text(
            json.dumps(
                {
                    "run": RUN,
                    "path": str(report.path),
                    "zipped_bytes": report.zipped_bytes,
                    "unzipped_bytes": report.unzipped_bytes,
                    "files": report.files,
                }
            )
        )
        return report
