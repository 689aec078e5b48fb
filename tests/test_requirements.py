"""The lock files (requirements*.txt, written by `make lock` from requirements*.in): every
package at one exact version with its hashes, the same version in every set, and each set
holding what it is for."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SETS = ["", "-worker", "-dev", "-browser", "-bench", "-mutate", "-uv"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^ ;\\]+)")


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(suffix: str) -> dict[str, tuple[str, int]]:
    """Package -> (version, number of hashes) of requirements<suffix>.txt."""
    packages: dict[str, tuple[str, int]] = {}
    name = None
    for line in (ROOT / f"requirements{suffix}.txt").read_text().splitlines():
        if match := PIN.match(line):
            name = normalised(match[1])
            packages[name] = (match[2], 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, hashes = packages[name]
            packages[name] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            raise AssertionError(f"requirements{suffix}.txt: not an exact pin: {line}")
    return packages


def direct(suffix: str) -> dict[str, str]:
    """The pins written in requirements<suffix>.in (without those of the files it includes)."""
    pins = {}
    for line in (ROOT / f"requirements{suffix}.in").read_text().splitlines():
        if match := PIN.match(line):
            pins[normalised(match[1])] = match[2]
    return pins


@pytest.mark.parametrize("suffix", SETS)
def test_every_package_of_a_lock_is_pinned_with_its_hashes(suffix):
    packages = locked(suffix)

    assert packages
    assert {name: hashes for name, (_, hashes) in packages.items() if not hashes} == {}


@pytest.mark.parametrize("suffix", SETS)
def test_a_lock_holds_its_inputs_at_their_versions(suffix):
    """An edit of a requirements*.in shows here until `make lock` is run."""
    packages = locked(suffix)

    assert {name: packages.get(name, ("missing",))[0] for name in direct(suffix)} == direct(suffix)


def test_a_package_has_one_version_in_every_lock():
    versions: dict[str, set[str]] = {}
    for suffix in SETS:
        for name, (version, _) in locked(suffix).items():
            versions.setdefault(name, set()).add(version)

    assert {name: found for name, found in versions.items() if len(found) > 1} == {}


def test_each_set_holds_what_it_is_for():
    runtime, worker, dev = locked(""), locked("-worker"), locked("-dev")

    # The Lambda package: boto3 and botocore at the versions the tests run with, no worker
    # consumer, no development tool, no browser.
    assert {"boto3", "botocore", "django", "zappa", "celery", "kombu"} <= set(runtime)
    assert not {"pycurl", "moto", "pytest", "cfn-lint", "playwright"} & set(runtime)
    # The Celery worker's SQS consumer polls through pycurl, which celery[sqs] brings.
    assert "pycurl" in worker and "pycurl" not in direct("-worker")
    assert set(runtime) <= set(worker) <= set(dev)
    # make lint and the template test run cfn-lint; Playwright and the benchmarks' extras
    # are sets of their own.
    assert "cfn-lint" in direct("-dev")
    assert not {"playwright", "django-import-export", "mutmut"} & set(dev)
    assert "playwright" in locked("-browser") and "django-import-export" in locked("-bench")
