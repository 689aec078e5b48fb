"""Cold start, warm invocations and size of the Lambda package: ``make bench``.

    python -m bench.cold_start [--runs 10] [--warm 50] [--database-url URL | --sqlite]
                               [--package ZIP] [--json FILE] [--instructions] [--deferrals]
                               [--snapstart]

Measured as Lambda runs the function:

* both packages are built by the same pipeline (``infra/package.py``: Zappa, manylinux
  wheels, bytecode compiled into the package) and unzipped into a directory that is made
  read-only; every process also runs with ``-B``, so no run writes bytecode for the next
  (root ignores file permissions);
* every run is a new ``python -I -S -B`` process whose only import path besides the
  standard library is the unzipped package (``bench/lambda_invoke.py``). The cold start is
  the time from starting the process to having the response to its first API Gateway
  event, an authenticated ``GET /api/orders`` (bearer token, a database with orders);
* the baseline is a bare Django 6 + Zappa hello-world (``bench/hello_world``: Django's
  startproject settings and one view, at the versions the console pins), measured the
  same way, alternating with the console in the same run;
* also measured, alternating with both: the same hello-world with boto3 and botocore
  deferred as the console's handler defers them (``console.runtime.deferred_imports``), which
  Zappa's handler otherwise imports at start-up. The console against it is what the
  console adds by itself.

Also printed: the median warm invocation of the same request, the package sizes, and an
import profile of one cold start (``python -X importtime``): which packages dominate.
``--instructions`` adds one cold start of each counted in instructions by valgrind, a
figure a busy machine does not change.

``--deferrals`` measures each import deferral of ``console.runtime.deferred_imports`` the
console's handler makes: the console's cold start with all of them, with each switched off
in turn (``DEFERRED_IMPORTS_OFF``) and with none, alternating, the same number of runs
(and, with ``--instructions``, one count of each): what each one saves.

``--snapstart`` plays SnapStart, as the prod stage's API function runs (``lambda_invoke.py
... restore``): the handler imported and the before-snapshot hooks run, then a forked
child runs the after-restore hooks and serves the same event; the figure is the child's
time from the fork to the response, the median of as many runs. Lambda's own part of a
restore, loading the snapshot's memory, is not in it.

The database: PostgreSQL (``--database-url``, default ``$BENCH_DATABASE_URL`` or
``postgres://postgres@127.0.0.1:5432/ops_bench``; created and migrated if needed), or a
SQLite file with ``--sqlite``.
"""

import argparse
import json
import os
import py_compile
import resource
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path

from bench.common import record
from console.runtime.deferred_imports import DEFERRALS
from infra import package as packaging
from infra.zappa_callbacks import finish

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORKDIR = packaging.WORKDIR / "bench"
HELLO_PROJECT = BENCH / "hello_world"
INVOKE = BENCH / "lambda_invoke.py"
APP_HANDLER = "console.runtime.lambda_handler.lambda_handler"
HELLO_HANDLER = "handler.lambda_handler"  # Zappa's own entry point, as Zappa deploys it
HELLO_DEFERRED_HANDLER = "hello_deferred.lambda_handler"
HELLO_DEFERRED_FILES = {
    "deferred_imports.py": (ROOT / "console" / "runtime" / "deferred_imports.py").read_text(),
    "hello_deferred.py": (
        '"""The hello-world, with boto3 and botocore deferred as the console defers them."""\n\n'
        "from deferred_imports import defer_aws_sdk\n\n"
        "defer_aws_sdk()\n\n"
        "from handler import lambda_handler  # noqa: E402,F401  Zappa's entry point\n"
    ),
}
SECRET_KEY = "benchmark-only-not-secret-" + "k" * 40


def pinned(requirement: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if line.lower().startswith(requirement.lower() + "=="):
            return line.split()[0]  # the lock's "name==version \" (hashes follow)
    raise LookupError(f"{requirement} is not pinned in requirements.txt")


def build_hello(python: str) -> Path:
    """The baseline's package: Django and Zappa only, packed like the console's."""
    requirements = WORKDIR / "hello-requirements.txt"
    requirements.parent.mkdir(parents=True, exist_ok=True)
    requirements.write_text(f"{pinned('Django')}\n{pinned('zappa')}\n")
    venv = packaging.ensure_venv(python, requirements, WORKDIR / "hello-venv")
    project = WORKDIR / "hello-project"
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(HELLO_PROJECT, project)
    output = WORKDIR / "hello.zip"
    packaging.zappa_package(venv, "bench", output, project=project)
    finish(output)
    return output


def unpack_read_only(zip_path: Path, into: Path, extra_files: dict[str, str] | None = None) -> Path:
    """The package unzipped, with ``extra_files`` added (and their bytecode, as the package
    has it), then read-only."""
    shutil.rmtree(into, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(into)
    for name, text in (extra_files or {}).items():
        (into / name).write_text(text)
        py_compile.compile(
            str(into / name), doraise=True, invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH
        )
    for path in [into, *into.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return into


def make_writable(path: Path) -> None:
    for item in [path, *path.rglob("*")]:
        if not item.is_symlink():
            item.chmod(item.stat().st_mode | stat.S_IWUSR)


def api_event(token: str) -> dict:
    """The REST API (v1) sample of tests/aws_events, made an authenticated GET /api/orders."""
    event = json.loads((ROOT / "tests" / "aws_events" / "apigw-rest-proxy.json").read_text())
    headers = {
        "Host": "abc123.execute-api.us-east-1.amazonaws.com",
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "X-Forwarded-Proto": "https",
    }
    event.update(
        path="/api/orders",
        resource="/{proxy+}",
        httpMethod="GET",
        headers=headers,
        multiValueHeaders={key: [value] for key, value in headers.items()},
        queryStringParameters=None,
        multiValueQueryStringParameters=None,
        body=None,
    )
    event["requestContext"].update(path="/dev/api/orders", httpMethod="GET", stage="dev", resourcePath="/{proxy+}")
    return event


def prepare_database(database_url: str) -> str:
    """Create (if needed) and migrate the database, add orders and an API client. Returns a token."""
    env = {**os.environ, "DATABASE_URL": database_url, "DJANGO_SETTINGS_MODULE": "console.settings.dev"}
    if database_url.startswith("postgres"):
        base, _, name = database_url.rpartition("/")
        exists = subprocess.run(
            ["psql", f"{base}/postgres", "-tAc", f"select 1 from pg_database where datname = '{name}'"],
            capture_output=True,
            text=True,
        )
        if exists.stdout.strip() != "1":
            subprocess.run(["psql", f"{base}/postgres", "-c", f'create database "{name}"'], check=True)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--no-input", "-v", "0"], cwd=ROOT, env=env, check=True)
    seed = (
        "from decimal import Decimal\n"
        "from orders.models import Order\n"
        "if Order.objects.filter(user_id__startswith='bench-').count() < 50:\n"
        "    Order.objects.bulk_create([Order(user_id=f'bench-{i}', total=Decimal('10.00')) for i in range(50)])\n"
    )
    subprocess.run([*manage, "shell", "-c", seed], cwd=ROOT, env=env, check=True)
    token = subprocess.run(
        [*manage, "issue_token", "bench-client"], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return token.stdout.strip()


def child_env(database_url: str) -> dict[str, str]:
    """What a Lambda process has: its function's environment, nothing from this shell."""
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "AWS_LAMBDA_FUNCTION_NAME": "ops-console-dev",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "DATABASE_URL": database_url,
        "DJANGO_SECRET_KEY": SECRET_KEY,
    }


def invoke(package: Path, handler: str, event_file: Path, env: dict, warm: int = 0, importtime: bool = False):
    """One fresh process: (cold-start ms measured from its start, its result, its stderr)."""
    flags = ["-I", "-S", "-B"] + (["-X", "importtime"] if importtime else [])
    command = [sys.executable, *flags, str(INVOKE), str(package), handler, str(event_file), str(warm)]
    # stderr to a file: a pipe nobody reads while stdout is followed would fill and block.
    with tempfile.TemporaryFile(mode="w+") as errors:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=errors, text=True)
        result, cold_ms, warm_result = None, None, None
        for line in process.stdout:
            if line.startswith("RESULT "):
                cold_ms = (time.perf_counter() - started) * 1000
                result = json.loads(line[len("RESULT ") :])
            elif line.startswith("WARM "):
                warm_result = json.loads(line[len("WARM ") :])
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        returncode = process.wait()
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        errors.seek(0)
        stderr = errors.read()
    # CPU time (user + system) of the whole process: steadier than wall time on a busy machine.
    result_cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    if returncode != 0 or result is None:
        raise SystemExit(f"{handler} failed in {package}:\n{stderr[-3000:]}")
    if result["status"] != 200:
        raise SystemExit(f"{handler} answered {result['status']}: {result['body']}\n{stderr[-2000:]}")
    result["cpu_ms"] = result_cpu
    return cold_ms, result, warm_result, stderr


def count_instructions(package: Path, handler: str, event_file: Path, env: dict) -> int:
    """Instructions one cold start executes (valgrind's callgrind): unlike time, the same
    whatever else the machine runs. About 50 times slower than a real run."""
    if not shutil.which("valgrind"):
        raise SystemExit("--instructions needs valgrind (apt-get install valgrind)")
    command = [
        "valgrind",
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-I",
        "-S",
        "-B",
        str(INVOKE),
        str(package),
        handler,
        str(event_file),
        "0",
    ]
    process = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)
    for line in process.stderr.splitlines():
        if "Collected :" in line:
            return int(line.rsplit(":", 1)[1].strip())
    raise SystemExit(f"valgrind did not report instructions:\n{process.stderr[-2000:]}")


def measure_deferrals(package: Path, event_file: Path, env: dict, runs: int, instructions: bool) -> dict:
    """The console's cold start with every deferral, with each one off, and with none:
    medians of ``runs`` alternating runs, and instructions of one run of each."""
    variants = {"all": "", **{f"without {name}": name for name in DEFERRALS}, "none": "all"}
    walls: dict[str, list[float]] = {label: [] for label in variants}
    cpu: dict[str, list[float]] = {label: [] for label in variants}
    for _ in range(runs):
        for label, off in variants.items():
            wall, result, _, _ = invoke(package, APP_HANDLER, event_file, {**env, "DEFERRED_IMPORTS_OFF": off})
            walls[label].append(wall)
            cpu[label].append(result["cpu_ms"])
    counts = {}
    if instructions:
        for label, off in variants.items():
            counts[label] = count_instructions(package, APP_HANDLER, event_file, {**env, "DEFERRED_IMPORTS_OFF": off})
    medians = {label: statistics.median(values) for label, values in walls.items()}
    cpu_medians = {label: statistics.median(values) for label, values in cpu.items()}
    saved = {}
    for name in DEFERRALS:
        label = f"without {name}"
        saved[name] = {
            "wall_ms": round(medians[label] - medians["all"], 1),
            "cpu_ms": round(cpu_medians[label] - cpu_medians["all"], 1),
            **({"instructions_m": round((counts[label] - counts["all"]) / 1e6, 1)} if counts else {}),
        }
    return {
        "runs": runs,
        "median_ms": {label: round(ms, 1) for label, ms in medians.items()},
        "cpu_median_ms": {label: round(ms, 1) for label, ms in cpu_medians.items()},
        "instructions": counts or None,
        "saved_by_each": saved,
        "saved_by_all": {
            "wall_ms": round(medians["none"] - medians["all"], 1),
            "cpu_ms": round(cpu_medians["none"] - cpu_medians["all"], 1),
            **({"instructions_m": round((counts["none"] - counts["all"]) / 1e6, 1)} if counts else {}),
        },
    }


def measure_snapstart(package: Path, event_file: Path, env: dict, runs: int) -> dict:
    """SnapStart played ``runs`` times: medians of the restored child's first response and
    of the before-snapshot set-up."""
    command = [
        sys.executable,
        "-I",
        "-S",
        "-B",
        str(INVOKE),
        str(package),
        APP_HANDLER,
        str(event_file),
        "0",
        "restore",
    ]
    restored, prepared = [], []
    for _ in range(runs):
        process = subprocess.run(
            command, env={**env, "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}, capture_output=True, text=True
        )
        results = [
            json.loads(line[len("RESULT ") :]) for line in process.stdout.splitlines() if line.startswith("RESULT ")
        ]
        if process.returncode != 0 or not results or results[-1]["status"] != 200:
            raise SystemExit(f"the restored process failed:\n{process.stdout[-1000:]}\n{process.stderr[-3000:]}")
        restored.append(results[-1]["restored_ms"])
        prepared.append(results[-1]["snapshot_ms"])
    return {
        "runs": runs,
        "restored_first_response_median_ms": round(statistics.median(restored), 1),
        "restored_runs": [round(ms, 1) for ms in restored],
        "before_snapshot_median_ms": round(statistics.median(prepared), 1),
    }


def import_profile(stderr: str, top: int = 12) -> dict:
    """From ``-X importtime`` output: self time per top-level package, and the slowest
    imports (cumulative) that are not inside another slow import."""
    per_package: dict[str, float] = defaultdict(float)
    rows = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        # The name is indented by two spaces per level of nesting (after one separating space).
        depth = (len(name) - len(name.lstrip()) - 1) // 2
        per_package[name.strip().split(".")[0]] += int(self_us) / 1000
        rows.append((name.strip(), int(cumulative_us) / 1000, depth))
    total = sum(per_package.values())
    packages = sorted(per_package.items(), key=lambda item: -item[1])[:top]
    outermost = sorted((row for row in rows if row[2] <= 1), key=lambda row: -row[1])[:top]
    return {
        "total_import_ms": round(total, 1),
        "self_ms_by_package": {name: round(ms, 1) for name, ms in packages},
        "slowest_top_level_imports_ms": {name: round(ms, 1) for name, ms, _ in outermost},
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--warm", type=int, default=50)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ops_bench"),
    )
    parser.add_argument("--sqlite", action="store_true", help="use a SQLite file instead of PostgreSQL")
    parser.add_argument("--package", type=Path, default=None, help="an already built console package")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count one cold start of each in instructions (valgrind): the same on a busy machine",
    )
    parser.add_argument(
        "--snapstart",
        action="store_true",
        help="also play SnapStart: a restored process's first response, without Lambda's snapshot loading",
    )
    parser.add_argument(
        "--deferrals",
        action="store_true",
        help="also measure the console with each import deferral switched off, and with none",
    )
    args = parser.parse_args(argv)

    WORKDIR.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{WORKDIR / 'bench.sqlite3'}" if args.sqlite else args.database_url
    print(f"building packages (database: {database_url.rsplit('@', 1)[-1]}) ...", flush=True)
    # Built for this machine (it runs here), not the stage's arm64.
    architecture = packaging.host_architecture()
    app_zip = args.package or packaging.build(stage="dev", python=sys.executable, architecture=architecture).path
    hello_zip = build_hello(sys.executable)
    token = prepare_database(database_url)

    with tempfile.TemporaryDirectory(prefix="cold-start-") as tmp:
        tmp_path = Path(tmp)
        app_dir = unpack_read_only(app_zip, tmp_path / "app")
        hello_dir = unpack_read_only(hello_zip, tmp_path / "hello")
        deferred_dir = unpack_read_only(hello_zip, tmp_path / "hello-deferred", HELLO_DEFERRED_FILES)
        event_file = tmp_path / "event.json"
        event_file.write_text(json.dumps(api_event(token)))
        env = child_env(database_url)
        files_before = sum(1 for _ in tmp_path.rglob("*"))
        try:
            app_cold, hello_cold, deferred_cold, app_cpu, hello_cpu = [], [], [], [], []
            for _ in range(args.runs):
                # Alternating, so all see the same machine load.
                wall, result, _, _ = invoke(hello_dir, HELLO_HANDLER, event_file, env)
                hello_cold.append(wall)
                hello_cpu.append(result["cpu_ms"])
                deferred_cold.append(invoke(deferred_dir, HELLO_DEFERRED_HANDLER, event_file, env)[0])
                wall, result, _, _ = invoke(app_dir, APP_HANDLER, event_file, env)
                app_cold.append(wall)
                app_cpu.append(result["cpu_ms"])
            _, _, app_warm, _ = invoke(app_dir, APP_HANDLER, event_file, env, warm=args.warm)
            _, _, hello_warm, _ = invoke(hello_dir, HELLO_HANDLER, event_file, env, warm=args.warm)
            _, _, _, app_imports = invoke(app_dir, APP_HANDLER, event_file, env, importtime=True)
            _, _, _, hello_imports = invoke(hello_dir, HELLO_HANDLER, event_file, env, importtime=True)
            instructions = None
            if args.instructions:
                instructions = {
                    "console": count_instructions(app_dir, APP_HANDLER, event_file, env),
                    "hello_world": count_instructions(hello_dir, HELLO_HANDLER, event_file, env),
                    "hello_world_aws_sdk_deferred": count_instructions(
                        deferred_dir, HELLO_DEFERRED_HANDLER, event_file, env
                    ),
                }
            deferrals = (
                measure_deferrals(app_dir, event_file, env, args.runs, args.instructions) if args.deferrals else None
            )
            snapstart = measure_snapstart(app_dir, event_file, env, args.runs) if args.snapstart else None
            files_after = sum(1 for _ in tmp_path.rglob("*"))
        finally:
            make_writable(tmp_path)

    report = packaging.inspect_package(app_zip, architecture).as_dict()
    app_median, hello_median = statistics.median(app_cold), statistics.median(hello_cold)
    figures = {
        "runs": args.runs,
        "database": "sqlite" if args.sqlite else "postgresql",
        "cold_start_ms": {
            "console_median": round(app_median, 1),
            "console_runs": [round(ms, 1) for ms in app_cold],
            "hello_world_median": round(hello_median, 1),
            "hello_world_runs": [round(ms, 1) for ms in hello_cold],
            "ratio": round(app_median / hello_median, 2),
            "console_cpu_median": round(statistics.median(app_cpu), 1),
            "hello_world_cpu_median": round(statistics.median(hello_cpu), 1),
            "cpu_ratio": round(statistics.median(app_cpu) / statistics.median(hello_cpu), 2),
            "hello_world_aws_sdk_deferred_median": round(statistics.median(deferred_cold), 1),
            "hello_world_aws_sdk_deferred_runs": [round(ms, 1) for ms in deferred_cold],
            "ratio_to_hello_world_aws_sdk_deferred": round(app_median / statistics.median(deferred_cold), 2),
        },
        "warm_invocation_ms": {
            "console_median": round(statistics.median(app_warm["warm_ms"]), 2),
            "hello_world_median": round(statistics.median(hello_warm["warm_ms"]), 2),
            "invocations": args.warm,
        },
        "package": {**report, "hello_world_zipped_mb": round(hello_zip.stat().st_size / 1024 / 1024, 1)},
        "import_profile": {"console": import_profile(app_imports), "hello_world": import_profile(hello_imports)},
        "files_written_into_packages": files_after - files_before,
        "instructions": instructions,
        "deferrals": deferrals,
        "snapstart": snapstart,
    }
    print_figures(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))
    cold, warm, size = figures["cold_start_ms"], figures["warm_invocation_ms"], figures["package"]
    record(
        "cold_start",
        "Cold start on Lambda",
        [
            ["Figure", "Console", "Hello-world (same run)"],
            [
                f"Cold start, median of {args.runs} (wall)",
                f"{cold['console_median']:.1f} ms",
                f"{cold['hello_world_median']:.1f} ms (ratio **{cold['ratio']:.2f}**)",
            ],
            [
                "Cold start, CPU time of the process",
                f"{cold['console_cpu_median']:.1f} ms",
                f"{cold['hello_world_cpu_median']:.1f} ms (ratio {cold['cpu_ratio']:.2f})",
            ],
            *(
                [
                    [
                        "Instructions of one cold start (valgrind)",
                        f"{instructions['console'] / 1e9:.2f} G",
                        f"{instructions['hello_world'] / 1e9:.2f} G "
                        f"(ratio {instructions['console'] / instructions['hello_world']:.2f}); "
                        f"with boto3 deferred {instructions['hello_world_aws_sdk_deferred'] / 1e9:.2f} G "
                        f"(ratio {instructions['console'] / instructions['hello_world_aws_sdk_deferred']:.2f})",
                    ]
                ]
                if instructions
                else []
            ),
            [
                "Against the hello-world with boto3 deferred too",
                "",
                f"{cold['hello_world_aws_sdk_deferred_median']:.1f} ms "
                f"(ratio {cold['ratio_to_hello_world_aws_sdk_deferred']:.2f})",
            ],
            *(
                [
                    [
                        f"SnapStart played: restore to first response, median of {snapstart['runs']}",
                        f"{snapstart['restored_first_response_median_ms']:.1f} ms "
                        f"(set-up before the snapshot {snapstart['before_snapshot_median_ms']:.0f} ms)",
                        "",
                    ]
                ]
                if snapstart
                else []
            ),
            [
                f"Warm invocation, median of {warm['invocations']}",
                f"{warm['console_median']} ms",
                f"{warm['hello_world_median']} ms",
            ],
            [
                "Package",
                f"{size['zipped_mb']} MB zipped, {size['unzipped_mb']} MB unzipped",
                f"{size['hello_world_zipped_mb']} MB zipped",
            ],
        ],
        note=f"authenticated `GET /api/orders` on {figures['database']}; goals: median ≤ 500 ms, ratio ≤ 1.3",
    )
    if deferrals:
        record_deferrals(deferrals)


def record_deferrals(deferrals: dict) -> None:
    counted = deferrals["instructions"] is not None
    rows = [["Deferral switched off", f"Cold start, median of {deferrals['runs']}", "Saved (wall)", "Saved (CPU)"]]
    rows[0] += ["Saved (instructions)"] if counted else []
    for name, saved in [*deferrals["saved_by_each"].items(), ("all", deferrals["saved_by_all"])]:
        label = "none" if name == "all" else f"without {name}"
        row = [name, f"{deferrals['median_ms'][label]:.1f} ms", f"{saved['wall_ms']:.1f} ms"]
        row.append(f"{saved['cpu_ms']:.1f} ms")
        rows.append(row + ([f"{saved['instructions_m']:.0f} M"] if counted else []))
    rows.insert(1, ["(none: all on)", f"{deferrals['median_ms']['all']:.1f} ms", "", "", *([""] if counted else [])])
    record("cold_start_deferrals", "Cold start: what each import deferral saves", rows)


def print_figures(figures: dict) -> None:
    cold, warm, size = figures["cold_start_ms"], figures["warm_invocation_ms"], figures["package"]
    print(f"\nCold start, authenticated GET /api/orders ({figures['runs']} runs each, {figures['database']}):")
    print(f"  console      median {cold['console_median']:7.1f} ms   runs {cold['console_runs']}")
    print(f"  hello-world  median {cold['hello_world_median']:7.1f} ms   runs {cold['hello_world_runs']}")
    print(f"  ratio        {cold['ratio']:.2f}   (goal <= 1.3; console median goal <= 500 ms)")
    print(
        f"  hello-world with boto3 deferred as the console defers it: median "
        f"{cold['hello_world_aws_sdk_deferred_median']:.1f} ms; the console against it (what the console "
        f"adds by itself): ratio {cold['ratio_to_hello_world_aws_sdk_deferred']:.2f}"
    )
    print(
        f"  CPU time of the process (steadier under load): console {cold['console_cpu_median']} ms, "
        f"hello-world {cold['hello_world_cpu_median']} ms, ratio {cold['cpu_ratio']:.2f}"
    )
    print(f"Warm invocation median: console {warm['console_median']} ms, hello-world {warm['hello_world_median']} ms")
    if figures["instructions"]:
        counted = figures["instructions"]
        print(
            f"Instructions of one cold start: console {counted['console'] / 1e9:.2f} G, "
            f"hello-world {counted['hello_world'] / 1e9:.2f} G, "
            f"ratio {counted['console'] / counted['hello_world']:.2f}; "
            f"hello-world with boto3 deferred {counted['hello_world_aws_sdk_deferred'] / 1e9:.2f} G, "
            f"ratio {counted['console'] / counted['hello_world_aws_sdk_deferred']:.2f}"
        )
    if figures["snapstart"]:
        played = figures["snapstart"]
        print(
            f"SnapStart played ({played['runs']} runs): restore to first response median "
            f"{played['restored_first_response_median_ms']} ms, runs {played['restored_runs']}; "
            f"set-up before the snapshot {played['before_snapshot_median_ms']} ms"
        )
    if figures["deferrals"]:
        deferrals = figures["deferrals"]
        print(f"Import deferrals ({deferrals['runs']} runs each): medians {deferrals['median_ms']}")
        for name, saved in [*deferrals["saved_by_each"].items(), ("all", deferrals["saved_by_all"])]:
            counted = f", {saved['instructions_m']} M instructions" if "instructions_m" in saved else ""
            print(f"  {name}: saves {saved['wall_ms']} ms (CPU {saved['cpu_ms']} ms){counted}")
    print(f"Package: {size['zipped_mb']} MB zipped, {size['unzipped_mb']} MB unzipped, {size['files']} files")
    for name in ("console", "hello_world"):
        profile = figures["import_profile"][name]
        print(f"\nImport profile, {name} (one cold start, -X importtime): {profile['total_import_ms']} ms importing")
        print("  self time by package: " + ", ".join(f"{k} {v}" for k, v in profile["self_ms_by_package"].items()))
        slowest = profile["slowest_top_level_imports_ms"].items()
        print("  slowest imports (cumulative): " + ", ".join(f"{k} {v}" for k, v in slowest))


if __name__ == "__main__":
    main()
