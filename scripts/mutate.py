"""`make mutate`: mutation testing where a bug costs money or loses data (not CI).

mutmut 3 (configured in pyproject.toml, [tool.mutmut]) copies the project into mutants/,
mutates the modules below and runs, for each mutant, the fast tests that call the mutated
function (of workflows, the approvals package: workflows/approvals/). One local AWS serves
every mutant's pytest session (TEST_LOCAL_AWS_ENDPOINT; starting and deploying one per
mutant would triple the run), and one mutant runs at a time: they share the test database.

Prints each module's score: killed / (mutants - skipped), a timeout counted as killed and
a mutant no test reaches ("no tests") as survived. mutmut mutates functions only, so the
lifecycle's transition table (data) gets mutants of its own here: each transition added or
removed, each client-settable status added or removed, each run against the tests that
call the lifecycle (``orders.lifecycle (table)``).

    rm -rf mutants; .venv/bin/python scripts/mutate.py [NAME ...]   # a run (NAME: only those)
    .venv/bin/python scripts/mutate.py --table       # only the table, in mutants/ of a run
    .venv/bin/python scripts/mutate.py --scores [--survivors]   # the last run's scores

NAME: globs of mutmut's mangled names, e.g. ``'orders.imports.rules.*'``.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tomllib
from collections import Counter
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))

from console.devtools import devstack  # noqa: E402

MUTMUT = str(Path(sys.executable).with_name("mutmut"))
# What `mutmut run` is given (globs of mangled names): module, then function.
NAMES = [
    "console.api.idempotency.*",
    "ops.redrive.runner.*",
    "orders.lifecycle.*",
    "workflows.approvals.*",
    "orders.imports.format.*",
    "orders.imports.rows.*",
    "orders.imports.rules.*",
    "orders.imports.bulk.*",
    "orders.imports.bulk_generic.*",
]
KILLED = {"killed", "timeout"}
MUTANTS_DIR = BASE_DIR / "mutants"
TABLE_MODULE = Path("orders/lifecycle.py")
TABLE_LINE = re.compile(r"^(    S\.(\w+): |CLIENT_SETTABLE = )frozenset\((?:\{(.*)\}|)\)", re.M)


def module_of(mutant: str) -> str:
    """``orders.imports.rules.x_parse__mutmut_3`` → ``orders.imports.rules``; the lifecycle's table apart."""
    if ".TRANSITIONS[" in mutant or ".CLIENT_SETTABLE " in mutant:
        return "orders.lifecycle (table)"
    return mutant.split(".x", 1)[0]


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


def table_mutants(source: str) -> dict[str, str]:
    """Each transition (and client-settable status) of the lifecycle's table added or
    removed, one at a time: {name: the module's source with it}."""
    statuses = re.findall(r"^    (\w+) = \"\w+\", ", source, re.M)
    mutants = {}
    for line in TABLE_LINE.finditer(source):
        source_status = line.group(2) or "CLIENT_SETTABLE"
        targets = [name.strip().removeprefix("S.") for name in (line.group(3) or "").split(",") if name.strip()]
        for status in statuses:
            changed = [t for t in targets if t != status] if status in targets else [*targets, status]
            where = "CLIENT_SETTABLE" if source_status == "CLIENT_SETTABLE" else f"TRANSITIONS[{source_status}]"
            name = f"orders.lifecycle.{where} {'-' if status in targets else '+'}{status}"
            text = "frozenset({" + ", ".join(f"S.{t}" for t in changed) + "})" if changed else "frozenset()"
            mutants[name] = source[: line.start()] + line.group(1) + text + source[line.end() :]
    return mutants


def run_table(env: dict[str, str]) -> dict[str, str]:
    """Run the table's mutants in mutants/ against the tests mutmut found calling the
    lifecycle and the orders app's fast tests (they read the table without calling it: a
    status refused as not client-settable never reaches ``check_transition``), with
    mutmut's pytest options; the transition table's own test first, the first failure kills."""
    stats = json.loads((MUTANTS_DIR / "mutmut-stats.json").read_text())
    calling = stats["tests_by_mangled_function_name"]
    tests = {test for key, names in calling.items() if key.startswith("orders.lifecycle.") for test in names}
    tests = sorted(
        (test for test in tests if not test.startswith("tests/orders/")), key=lambda test: "lifecycle_table" not in test
    )
    options = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["tool"]["mutmut"]["pytest_add_cli_args"]
    tests = ["tests/orders/test_lifecycle_table.py", "tests/orders", *tests]
    path = MUTANTS_DIR / TABLE_MODULE
    original = path.read_text()
    results = {}
    try:
        for name, source in table_mutants(original).items():
            path.write_text(source)
            run = subprocess.run(
                [sys.executable, "-m", "pytest", "-x", "-q", *options, *tests],
                cwd=MUTANTS_DIR,
                env=env,
                capture_output=True,
            )
            results[name] = "survived" if run.returncode == 0 else "killed"
            print(f"{results[name]:9} {name}", flush=True)
    finally:
        path.write_text(original)
    (MUTANTS_DIR / "lifecycle-table.json").write_text(json.dumps(results, indent=1))
    return results


def table_results() -> dict[str, str]:
    path = MUTANTS_DIR / "lifecycle-table.json"
    return json.loads(path.read_text()) if path.exists() else {}


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


def run(names: list[str], *, table: bool) -> None:
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
        if names:
            subprocess.run([MUTMUT, "run", "--max-children", "1", *names], cwd=BASE_DIR, env=env, check=True)
        if table:
            run_table(env)
    finally:
        devstack.stop_process(local_aws)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scores", action="store_true", help="print the last run's scores, run nothing")
    parser.add_argument("--survivors", action="store_true", help="list the mutants that survived")
    parser.add_argument("--table", action="store_true", help="run only the lifecycle table's mutants")
    parser.add_argument("names", nargs="*", help="mutants to run (mutmut's name globs); default: all, the table too")
    args = parser.parse_args()
    # Stopped (SIGTERM), it still stops the local AWS and puts the table back.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.table:
        run([], table=True)
    elif not args.scores:
        run(args.names or NAMES, table=not args.names)
    print_scores({**results(), **table_results()}, survivors=args.survivors)


if __name__ == "__main__":
    main()
