"""`make mutate`: mutation testing where a bug costs money or loses data (not CI).

mutmut 3 (configured in pyproject.toml, [tool.mutmut]) copies the project into mutants/,
mutates the modules below and runs, for each mutant, the fast tests that call the mutated
function. Of workflows/services.py only the approval path is run. One local AWS serves
every mutant's pytest session (TEST_LOCAL_AWS_ENDPOINT; starting and deploying one per
mutant would triple the run), and one mutant runs at a time: they share the test database.

Prints each module's score: killed / (mutants - skipped), a timeout counted as killed and
a mutant no test reaches ("no tests") as survived. ``--scores`` prints them for the last
run without running it again; ``--survivors`` lists what survived. Names (globs of mutmut's
mangled names, e.g. ``'media.ingest.*'``) run only those mutants.

    rm -rf mutants; .venv/bin/python scripts/mutate.py [--scores] [--survivors] [NAME ...]
"""

import argparse
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from console import devstack  # noqa: E402

MUTMUT = str(Path(sys.executable).with_name("mutmut"))
APPROVAL_FUNCTIONS = [
    "x_approval_",
    "x__approval_",
    "x__refusal",
    "x__when",
    "x__claimed_message",
    "x__iso",
    "x__refuse_if_not_open",
    "x__not_pending_message",
    "x__name",
    "xǁApprovalNotPendingǁ",
]
# What `mutmut run` is given (globs of mangled names): module, then function.
NAMES = [
    "console.idempotency.*",
    "ops.redrive.*",
    "orders.lifecycle.*",
    "media.csv_format.*",
    "media.csv_rows.*",
    "media.ingest.*",
    "media.ingest_generic.*",
    *(f"workflows.services.{prefix}*" for prefix in APPROVAL_FUNCTIONS),
]
KILLED = {"killed", "timeout"}


def module_of(mutant: str) -> str:
    """``media.ingest.x_parse__mutmut_3`` → ``media.ingest``; the approval path apart."""
    module = mutant.split(".x", 1)[0]
    return f"{module} (approvals)" if module == "workflows.services" else module


def results() -> dict[str, str]:
    """Every mutant's status from the last run, ``not checked`` ones (outside NAMES) left out."""
    output = subprocess.run(
        [MUTMUT, "results", "--all=true"], cwd=BASE_DIR, capture_output=True, text=True, check=True
    ).stdout
    statuses = {}
    for line in output.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name and status != "not checked":
            statuses[name] = status
    return statuses


def print_scores(statuses: dict[str, str], *, survivors: bool) -> None:
    by_module: dict[str, Counter] = {}
    for name, status in statuses.items():
        by_module.setdefault(module_of(name), Counter())[status] += 1
    print(f"{'module':34} {'killed':>7} {'of':>5} {'score':>7}   survived, no tests, skipped")
    for module, counts in sorted(by_module.items()):
        killed = sum(counts[status] for status in KILLED)
        counted = sum(counts.values()) - counts["skipped"]
        print(
            f"{module:34} {killed:7d} {counted:5d} {100 * killed / counted:6.1f}%"
            f"   {counts['survived']}, {counts['no tests']}, {counts['skipped']}"
        )
    if survivors:
        for name, status in sorted(statuses.items()):
            if status not in KILLED and status != "skipped":
                print(f"{status:10} {name}")


def run(names: list[str]) -> None:
    port = devstack.free_port()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    local_aws = subprocess.Popen(
        devstack.moto_command(port), cwd=BASE_DIR, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    try:
        devstack.wait_for_port(port, process=local_aws)
        env["TEST_LOCAL_AWS_ENDPOINT"] = f"http://127.0.0.1:{port}"
        subprocess.run([MUTMUT, "run", "--max-children", "1", *names], cwd=BASE_DIR, env=env, check=True)
    finally:
        devstack.stop_process(local_aws)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scores", action="store_true", help="print the last run's scores, run nothing")
    parser.add_argument("--survivors", action="store_true", help="list the mutants that survived")
    parser.add_argument("names", nargs="*", default=NAMES, help="mutants to run (mutmut's name globs)")
    args = parser.parse_args()
    if not args.scores:
        run(args.names)
    print_scores(results(), survivors=args.survivors)


if __name__ == "__main__":
    main()
