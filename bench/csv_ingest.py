"""Order CSV ingestion, measured: one command prints every figure.

    .venv/bin/python bench/csv_ingest.py --database-url postgres://postgres@127.0.0.1:5432/ops_bench_ingest

(or ``make bench-ingest``; options: --rows, --workers, --memory-rows, --compare-rows, --skip)

What it does, on the benchmarks' local stack (bench/stack.py: a moto server with infra/
deployed, the database created if needed, migrated and flushed):

1. Writes an order CSV of ``--rows`` rows (1 to 5 items per order) and uploads it to the
   files bucket of the local S3.
2. ``psql \\copy`` of the same file into a bare table (six text columns, no index): the
   database's own loading speed on this machine, measured in the same run.
3. The import, end to end: from the object in S3 to the import closed with every order
   committed, run as deployed: by the worker function (the local consumer delivers the
   jobs queue to ``--workers`` execution environments, its concurrency here), chunks in
   parallel, one SQS message per chunk, none per row; ``--runner celery`` runs it with
   ``--workers`` Celery worker processes instead.
   Then the floor under any importer of these tables: the rows the import wrote (orders,
   references, events, items) copied out, the tables emptied and the rows ``psql \\copy``-ed
   back into the real tables, with their indexes and foreign keys. No parsing, no checks,
   no grouping: only the writing an import of this file cannot avoid.
4. Peak memory (max RSS) of one process importing ``--memory-rows`` files in turn.
5. django-import-export importing ``--compare-rows`` rows into the same models (orders,
   items, events, references) beside our import of the same rows, and the ratio.

Figures depend on the machine and its load: the script prints what it measured, and the
load average before and after.
"""

import argparse
import json
import logging
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/ops_bench_ingest"


def write_csv(path: Path, rows: int, seed: int = 7) -> int:
    """An order CSV of ``rows`` rows; returns the number of orders."""
    rng = random.Random(seed)
    written = orders = 0
    with open(path, "w", newline="") as out:
        out.write("order_reference,user_id,product_id,name,quantity,price\n")
        while written < rows:
            orders += 1
            for _ in range(min(rng.randint(1, 5), rows - written)):
                product = rng.randint(1, 5000)
                out.write(
                    f"BENCH-{orders:09d},customer-{orders % 10007},SKU-{product:05d},Product {product},"
                    f"{rng.randint(1, 9)},{rng.randint(100, 99999) / 100:.2f}\n"
                )
                written += 1
    return orders


def empty_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            # The imports' tables keep their names from the media app (orders.imports.models).
            "TRUNCATE orders_order, orders_orderitem, orders_orderevent, media_import, media_importchunk, "
            "media_rejectedrow, media_importedorder, console_auditentry CASCADE"
        )
        cursor.execute("VACUUM ANALYZE orders_order, orders_orderitem, orders_orderevent, media_importedorder")


def upload(path: Path, key: str):
    from console.aws import clients as aws
    from console.aws import resources, s3

    bucket = resources.files_bucket()
    aws.client("s3").upload_file(str(path), bucket, key, ExtraArgs={"ContentType": "text/csv"})
    return s3.head(bucket=bucket, key=key)


def psql_copy(database_url: str, path: Path) -> float:
    def psql(command: str) -> None:
        subprocess.run(["psql", database_url, "-v", "ON_ERROR_STOP=1", "-qc", command], check=True)

    psql("DROP TABLE IF EXISTS bench_bare_copy")
    psql("CREATE TABLE bench_bare_copy (a text, b text, c text, d text, e text, f text)")
    started = time.perf_counter()
    psql(f"\\copy bench_bare_copy FROM '{path}' WITH (FORMAT csv, HEADER true)")
    seconds = time.perf_counter() - started
    psql("DROP TABLE bench_bare_copy")
    return seconds


# What an import of orders writes, parents first (foreign keys are checked as each COPY commits).
WRITTEN_TABLES = ("orders_order", "media_importedorder", "orders_orderevent", "orders_orderitem")


def psql_copy_written(database_url: str, workdir: Path, processes: int) -> float:
    """Seconds to ``\\copy`` the rows the import wrote back into their emptied tables,
    ``processes`` psql processes at once on each table (as many as the import's workers)."""

    def psql(*commands: str, wait: bool = True) -> subprocess.Popen:
        script = [arg for command in commands for arg in ("-c", command)]
        process = subprocess.Popen(["psql", database_url, "-v", "ON_ERROR_STOP=1", "-q", *script])
        if wait and process.wait() != 0:
            raise SystemExit(f"psql failed: {commands}")
        return process

    parts: dict[str, list[Path]] = {}
    for table in WRITTEN_TABLES:
        whole = workdir / f"{table}.copy"
        psql(f"\\copy {table} TO '{whole}'")
        parts[table] = [workdir / f"{table}.{index}.copy" for index in range(processes)]
        outputs = [part.open("wb") for part in parts[table]]
        with whole.open("rb") as rows:  # text format: one line per row; dealt out in turn
            for number, row in enumerate(rows):
                outputs[number % processes].write(row)
        for output in outputs:
            output.close()
        whole.unlink()
    psql(f"TRUNCATE {', '.join(WRITTEN_TABLES)} CASCADE")
    psql(f"VACUUM ANALYZE {', '.join(WRITTEN_TABLES)}")
    started = time.perf_counter()
    for table in WRITTEN_TABLES:  # parents first
        running = [psql(f"\\copy {table} FROM '{part}'", wait=False) for part in parts[table]]
        if any(process.wait() != 0 for process in running):
            raise SystemExit(f"psql \\copy into {table} failed")
    seconds = time.perf_counter() - started
    for part in (part for table_parts in parts.values() for part in table_parts):
        part.unlink()
    return seconds


def wait_for_import(import_run, alive=lambda: True, log_name: str = "consumer.log") -> object:
    deadline = time.monotonic() + 1800
    while True:
        import_run.refresh_from_db()
        if import_run.is_final:
            return import_run
        if time.monotonic() > deadline or not alive():
            raise SystemExit(f"the import did not finish (see .local/bench/{log_name}): {import_run.status}")
        time.sleep(0.05)


def import_on_lambda(info) -> tuple[float, object]:
    """The import run by the worker function (the stack's consumer is already polling)."""
    from django.db import transaction

    from orders.imports.services import csv_import_object
    from orders.models import Import

    started = time.perf_counter()
    with transaction.atomic():
        import_run = csv_import_object(info=info, mode=Import.Mode.HISTORY)
    import_run = wait_for_import(import_run)
    return time.perf_counter() - started, import_run


def import_with_workers(info, workers: int, env: dict[str, str]) -> tuple[float, object]:
    from orders.imports.services import csv_import_object
    from orders.models import Import

    log = open(ROOT / ".local" / "bench" / "csv-worker.log", "w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "console.runtime.celery",
            "worker",
            "-Q",
            "jobs",
            f"--concurrency={workers}",
            f"--loglevel={env.get('LOG_LEVEL', 'WARNING')}",
            "--without-mingle",
            "--without-gossip",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(8)  # the worker connects to SQS before the clock starts
        from django.db import transaction

        started = time.perf_counter()
        with transaction.atomic():
            import_run = csv_import_object(info=info, mode=Import.Mode.HISTORY)
        import_run = wait_for_import(import_run, alive=lambda: worker.poll() is None, log_name="csv-worker.log")
        seconds = time.perf_counter() - started
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()
    return seconds, import_run


def peak_rss_kib() -> int:
    """This process's peak resident memory (VmHWM). Not getrusage's ru_maxrss: Linux carries
    that over from the parent through fork and exec, so a child would report the parent's
    peak whenever the parent is the larger."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child_inline(key: str) -> None:
    """In a child process: import one object, print seconds and peak RSS as JSON."""
    from console.aws import resources, s3
    from orders.imports.services import csv_import_object, import_run_inline
    from orders.models import Import

    info = s3.head(bucket=resources.files_bucket(), key=key)
    started = time.perf_counter()
    import_run = csv_import_object(info=info, mode=Import.Mode.HISTORY, dry_run=False)
    import_run = import_run_inline(import_id=import_run.pk)
    seconds = time.perf_counter() - started
    peak_kib = peak_rss_kib()
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_kib": peak_kib,
                "status": import_run.status,
                "rows": import_run.rows_ingested,
                "orders": import_run.orders_created,
            }
        )
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="execution environments (or Celery processes)")
    parser.add_argument("--runner", choices=["lambda", "celery"], default="lambda")
    parser.add_argument("--memory-rows", default="100000,1000000")
    parser.add_argument("--compare-rows", type=int, default=20_000)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: end-to-end,memory,compare")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DB)
    parser.add_argument("--log-level", default="WARNING", help="INFO shows each chunk's steps and their times")
    parser.add_argument("--child-inline", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgres"):
        raise SystemExit("The benchmark needs PostgreSQL: --database-url postgres://...")

    if args.child_inline:  # a child process of the memory figure; the parent set the environment
        import django

        django.setup()
        child_inline(args.child_inline)
        return

    from bench.stack import local_stack

    skip = set(filter(None, args.skip.split(",")))
    print(f"load average before: {os.getloadavg()}", flush=True)
    # Lambda: the worker function's environments here; Celery: the consumer leaves it the jobs queue.
    stack_options = {"LOCAL_LAMBDA_CONCURRENCY": str(args.workers)}
    if args.runner == "celery":
        stack_options["skip_queues"] = ("ops-console-dev-jobs",)
    with local_stack(args.database_url, **stack_options):
        # Processes started from here on (worker, memory runs) log warnings only, unless asked.
        os.environ["LOG_LEVEL"] = args.log_level
        logging.getLogger("orders.imports").setLevel(args.log_level)
        workdir = Path(tempfile.mkdtemp(prefix="bench-csv-"))

        if "end-to-end" not in skip:
            path = workdir / "orders.csv"
            orders = write_csv(path, args.rows)
            size = path.stat().st_size
            print(f"\n{args.rows:,} rows, {orders:,} orders, {size / 1e6:.1f} MB", flush=True)
            info = upload(path, "bench/orders.csv")
            copy_seconds = psql_copy(args.database_url, path)
            print(f"psql \\copy into a bare table: {copy_seconds:.2f} s = {args.rows / copy_seconds:,.0f} rows/s")
            empty_tables()
            if args.runner == "celery":
                seconds, import_run = import_with_workers(info, args.workers, dict(os.environ))
                runner = f"{args.workers} Celery workers"
            else:
                seconds, import_run = import_on_lambda(info)
                runner = f"the worker function, {args.workers} environments"
            rate = args.rows / seconds
            print(
                f"import, S3 to committed orders ({runner}, {import_run.chunks_total} chunks): "
                f"{seconds:.2f} s = {rate:,.0f} rows/s [{import_run.status}, {import_run.rows_ingested:,} rows, "
                f"{import_run.orders_created:,} orders]"
            )
            print(
                f"  target >= 50,000 rows/s: {'met' if rate >= 50_000 else 'NOT met'}; "
                f"speed relative to psql \\copy: {copy_seconds / seconds:.2f} (target >= 0.50: "
                f"{'met' if copy_seconds / seconds >= 0.5 else 'NOT met'})",
                flush=True,
            )
            floor = psql_copy_written(args.database_url, workdir, args.workers)
            print(
                f"floor: the orders, references, events and items written, \\copy-ed into their tables ({args.workers} "
                f"psql at once; indexes, foreign keys; no parsing or checks): {floor:.2f} s; no importer of these "
                f"tables can reach more than {copy_seconds / floor:.2f} of \\copy's speed",
                flush=True,
            )
            path.unlink()

        if "memory" not in skip:
            peaks = {}
            for rows in [int(r) for r in args.memory_rows.split(",")]:
                path = workdir / f"memory-{rows}.csv"
                write_csv(path, rows, seed=rows)
                upload(path, f"bench/memory-{rows}.csv")
                path.unlink()
                empty_tables()
                child = subprocess.run(
                    [sys.executable, "-m", "bench.csv_ingest", "--child-inline", f"bench/memory-{rows}.csv"],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    text=True,
                    check=True,
                )
                figures = json.loads(child.stdout.strip().splitlines()[-1])
                peaks[rows] = figures["peak_kib"]
                print(
                    f"one process, {rows:,} rows: peak RSS {figures['peak_kib'] / 1024:.1f} MiB, "
                    f"{figures['seconds']:.2f} s ({rows / figures['seconds']:,.0f} rows/s, {figures['status']})",
                    flush=True,
                )
            if len(peaks) >= 2:
                low, high = peaks[min(peaks)], peaks[max(peaks)]
                growth = (high - low) / low
                print(
                    f"  peak memory growth {min(peaks):,} -> {max(peaks):,} rows: {growth:+.1%} "
                    f"(target within 20%: {'met' if abs(growth) <= 0.2 else 'NOT met'})"
                )

        if "compare" not in skip:
            from bench.import_export_compare import compare

            ours, theirs = compare(workdir, args.compare_rows, write_csv, upload, empty_tables)
    print(f"\nload average after: {os.getloadavg()}")
    if not skip and len(peaks) >= 2:  # a partial run leaves the recorded figures as they are
        from bench.common import record

        record(
            "csv_ingest",
            "Order CSV ingestion",
            [
                ["Figure", "Measured", "Target"],
                [
                    f"{args.rows:,} rows ({orders:,} orders), S3 → committed orders, {runner}, "
                    f"{import_run.chunks_total} chunks",
                    f"{seconds:.1f} s = {rate:,.0f} rows/s",
                    f"≥ 50,000 rows/s: {'met' if rate >= 50_000 else '**not met**'}",
                ],
                [
                    "`psql \\copy` of the same file into a bare table, same run",
                    f"{copy_seconds:.2f} s = {args.rows / copy_seconds:,.0f} rows/s",
                    f"import ≥ half its speed: {'met' if copy_seconds / seconds >= 0.5 else '**not met**'} "
                    f"({copy_seconds / seconds:.2f})",
                ],
                [
                    "The floor: the rows the import wrote, `\\copy`-ed back into their emptied tables "
                    "(indexes and foreign keys, no parsing or checks), same run",
                    f"{floor:.1f} s",
                    f"no importer of these tables can reach more than {copy_seconds / floor:.2f} of `\\copy`",
                ],
                [
                    "Peak RSS of one importing process (VmHWM), "
                    + " → ".join(f"{rows:,}" for rows in sorted(peaks))
                    + " rows",
                    " → ".join(f"{peaks[rows] / 1024:.1f} MiB" for rows in sorted(peaks)) + f" ({growth:+.1%})",
                    f"within 20 %: {'met' if abs(growth) <= 0.2 else '**not met**'}",
                ],
                [
                    f"{args.compare_rows:,} rows, this import vs django-import-export (one process)",
                    f"{ours:.2f} s vs {theirs:.1f} s: {theirs / ours:.0f}× as fast",
                    "printed",
                ],
            ],
        )


if __name__ == "__main__":
    main()
