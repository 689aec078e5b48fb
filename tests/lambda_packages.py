"""The Lambda packages of the test session, each built at most once (``make package``'s
pipeline, infra/package.py) and shared by the tests that run or deploy them:
tests/on_lambda/test_package.py and tests/infra/test_rehearsal.py.

The virtualenv, Zappa's wheel cache and the collected static files are made once for all
packages; a package is built when a test first asks for it, into ``.lambda/`` where
``make package`` writes it.
"""

import sys
from functools import cache
from pathlib import Path

from infra import package as packaging


@cache
def _prepared_venv() -> Path:
    return packaging.prepare(python=sys.executable)


@cache
def lambda_package(zappa_stage: str = "dev") -> packaging.PackageReport:
    """The package of one Zappa stage (``dev``: the API function, ``dev-worker``: the worker)."""
    return packaging.package_stage(_prepared_venv(), zappa_stage)
