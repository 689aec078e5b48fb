"""The worker function's long jobs at the sizes the console promises, run as deployed.

    .venv/bin/python -m bench.worker_jobs [--database-url postgres://...] [--kill] [--skip import,export,redrive]

(or ``make bench-worker``.) On the benchmarks' local stack (bench/stack.py: a moto server
with infra/ deployed, PostgreSQL, the consumer running the stage's Lambda functions, the
worker function's jobs in ``LOCAL_LAMBDA_CONCURRENCY`` execution environments), in the
default mode (no Celery worker):

1. **Import**: an order CSV of ``--rows`` rows (1,000,000) uploaded to the files bucket and
   imported (history mode): the plan job and one job per chunk on the worker function.
2. **Export**: ``--orders`` orders (1,000,000, loaded with ``bench.load_orders``) written
   to a file in S3 by the export job, as an operator's *Export CSV to a file* queues it.
3. **Redrive**: ``--messages`` messages (2,000) put in a dead-letter queue, archived by the
   worker function's archive, then redriven by a redrive job to a queue of their own.

For each: the wall time, the worker function's invocations it took (from the consumer's
REPORT lines) and the longest of them against the function's timeout, and the counts
(nothing lost, nothing imported twice). With ``--kill`` each runs a second time and the
consumer is killed (SIGKILL) halfway, then started again: the counts must come out the same.
A killed invocation's message comes back after the jobs queue's visibility timeout (90
minutes on AWS: six times the function's 900 s); for the kill runs that timeout is set to
``--kill-visibility-seconds`` (300) with SetQueueAttributes, longer than any job here, so
that the run ends in minutes. Redrives are also taken over by the scheduled refresh.
"""

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import record  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/ops_bench_worker"
LOG_DIR = ROOT / ".local" / "bench"
CONSUMER_LOG = LOG_DIR / "consumer.log"
WORKER = "ops-console-dev-worker"
REPORT = re.compile(
    r"^(?P<at>\S+ \S+) INFO console\.devtools\.local_consumer: "
    r"REPORT function=(?P<function>\S+) source=(?P<source>\S+) "
    r"records=(?P<records>\d+) duration_ms=(?P<ms>[\d.]+) timeout_s=(?P<timeout>\d+) outcome=(?P<outcome>\S+)"
)


@dataclass
class Invocations:
    count: int
    longest_ms: float
    timeout_s: int
    failed: int


def invocations(since: datetime, until: datetime, source: str = "ops-console-dev-jobs") -> Invocations:
    """The worker function's invocations of ``source`` that ended in [since, until]."""
    count, longest, timeout, failed = 0, 0.0, 0, 0
    for line in CONSUMER_LOG.read_text().splitlines():
        match = REPORT.match(line)
        if not match or match["function"] != WORKER or match["source"] != source:
            continue
        at = datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f")
        if since <= at <= until:
            count += 1
            longest = max(longest, float(match["ms"]))
            timeout = int(match["timeout"])
            failed += match["outcome"] != "ok"
    return Invocations(count, longest, timeout, failed)


def settled_invocations(since: datetime, source: str = "ops-console-dev-jobs") -> Invocations:
    """The invocations since ``since``, once the last one's REPORT line is written (it follows
    the result its job committed) and no other has ended for two seconds."""
    found = wait(lambda: (seen := invocations(since, datetime.now(), source)).count and seen, "a REPORT line")
    while True:
        time.sleep(2)
        again = invocations(since, datetime.now(), source)
        if again.count == found.count:
            return again
        found = again


def invocations_cell(found: Invocations) -> str:
    return f"{found.count}, {found.longest_ms / 1000:.1f} s ({found.longest_ms / 1000 / max(found.timeout_s, 1):.1%})"


def print_invocations(found: Invocations) -> None:
    print(
        f"  worker function: {found.count} invocations ({found.failed} not ok); longest {found.longest_ms / 1000:.1f} s"
        f" of its {found.timeout_s} s timeout ({found.longest_ms / 1000 / max(found.timeout_s, 1):.1%})",
        flush=True,
    )


class Consumer:
    """The stack's consumer process, which the kill runs kill and start again."""

    def __init__(self, env: dict[str, str]):
        from bench.stack import start_consumer

        self.env, self.start_consumer = env, start_consumer
        self.process = start_consumer(env, CONSUMER_LOG)

    def kill(self) -> None:
        children = _child_pids(self.process.pid)
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()
        time.sleep(2)
        alive = [pid for pid in children if _alive(pid)]
        print(f"  consumer killed (SIGKILL); its {len(children)} execution environments still running: {len(alive)}")

    def restart(self) -> None:
        self.process = self.start_consumer(self.env, CONSUMER_LOG)
        print("  consumer started again", flush=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


def _child_pids(pid: int) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(child) for child in found]


def _alive(pid: int) -> bool:
    """Running (a zombie, dead but not yet reaped by its new parent, is not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state != "Z"


def wait(predicate, what: str, timeout: float = 3600, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while not (result := predicate()):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(interval)
    return result


# --- Import ------------------------------------------------------------------------------------


def run_import(rows: int, workdir: Path, consumer: Consumer | None, tag: str) -> list[str]:
    from django.db import transaction

    from bench.csv_ingest import empty_tables, upload, write_csv
    from orders.imports.services import csv_import_object
    from orders.models import Import, ImportChunk, Order

    path = workdir / "orders.csv"
    orders = write_csv(path, rows)
    info = upload(path, f"bench/worker-{tag}.csv")
    path.unlink()
    empty_tables()
    print(f"\nimport of {rows:,} rows ({orders:,} orders){' with a kill' if consumer else ''}", flush=True)
    since, started = datetime.now(), time.perf_counter()
    with transaction.atomic():
        import_run = csv_import_object(info=info, mode=Import.Mode.HISTORY)
    if consumer:
        wait(
            lambda: ImportChunk.objects.filter(import_run=import_run, status=ImportChunk.Status.DONE).exists(),
            "a first chunk",
        )
        consumer.kill()
        consumer.restart()
    import_run = wait(lambda: (fresh := Import.objects.get(pk=import_run.pk)).is_final and fresh, "the import")
    seconds = time.perf_counter() - started
    print(f"  {import_run.status} in {seconds:.1f} s ({rows / seconds:,.0f} rows/s, {import_run.chunks_total} chunks)")
    print_invocations(found := settled_invocations(since))
    in_database = Order.objects.count()
    equal = import_run.rows_ingested == rows and in_database == orders == import_run.orders_created
    print(
        f"  rows ingested {import_run.rows_ingested:,} of {rows:,}; orders created {import_run.orders_created:,}, "
        f"in the database {in_database:,}, expected {orders:,}: {'equal' if equal else 'DIFFERENT'}"
    )
    return [
        f"Import, {rows:,} rows ({orders:,} orders, {import_run.chunks_total} chunks)",
        f"{seconds:.1f} s = {rows / seconds:,.0f} rows/s",
        invocations_cell(found),
        f"{import_run.rows_ingested:,} rows, {in_database:,} orders: {'equal' if equal else 'DIFFERENT'}",
    ]


# --- Export ------------------------------------------------------------------------------------


def run_export(orders: int, consumer: Consumer | None) -> list[str]:
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db import transaction

    from console.aws import clients as aws
    from console.aws import resources
    from console.models import AuditEntry
    from console.platform import roles
    from orders.exports import export_to_file_request
    from orders.models import Order

    if Order.objects.count() != orders:
        from bench.load_orders import load

        print(f"\nloading {orders:,} orders ...", flush=True)
        load(orders)
    count = Order.objects.count()
    user, _ = get_user_model().objects.get_or_create(
        username="bench-exporter", defaults={"is_staff": True, "email": "exporter@example.com"}
    )
    user.groups.add(Group.objects.get(name=roles.OPERATOR))
    print(f"\nexport of {count:,} orders to a file{' with a kill' if consumer else ''}", flush=True)
    since, started = datetime.now(), time.perf_counter()
    with transaction.atomic():
        key = export_to_file_request(user=user, filters="")
    s3 = aws.client("s3")
    bucket = resources.files_bucket()
    if consumer:
        wait(
            lambda: (
                any(u["Key"] == key for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []))
                or AuditEntry.objects.filter(action="order.export.written", after__key=key).exists()
            ),
            "the export's upload to start",
            interval=0.1,
        )
        time.sleep(3)
        if AuditEntry.objects.filter(action="order.export.written", after__key=key).exists():
            print("  the export ended before the consumer could be killed")
        else:
            consumer.kill()
            consumer.restart()
    written = wait(
        lambda: AuditEntry.objects.filter(action="order.export.written", after__key=key).first(), "the export"
    )
    seconds = time.perf_counter() - started
    print(f"  written in {seconds:.1f} s ({count / seconds:,.0f} rows/s), {written.after['bytes'] / 1e6:.0f} MB")
    print_invocations(found := settled_invocations(since))
    lines = 0
    for chunk in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_chunks(1024 * 1024):
        lines += chunk.count(b"\n")
    print(
        f"  rows in the file {lines - 1:,}, audited {written.after['rows']:,}, orders {count:,}: "
        f"{'equal' if lines - 1 == written.after['rows'] == count else 'DIFFERENT'}"
    )
    return [
        f"Export, {count:,} orders to S3 ({written.after['bytes'] / 1e6:.0f} MB)",
        f"{seconds:.1f} s",
        invocations_cell(found),
        f"{lines - 1:,} rows in the file: {'equal' if lines - 1 == written.after['rows'] == count else 'DIFFERENT'}",
    ]


# --- Redrive -----------------------------------------------------------------------------------


def run_redrive(messages: int, consumer: Consumer | None, tag: str) -> list[str]:
    import json

    from django.contrib.auth import get_user_model

    from console.aws import clients as aws
    from console.aws.resources import resource_name
    from ops.models import DeadLetter, RedriveJob
    from ops.redrive import jobs

    sqs = aws.client("sqs")
    dlq = resource_name("async-dlq")  # archived by the worker function, fed by Lambda only
    target = resource_name(f"bench-redrive-{tag}")
    target_url = sqs.create_queue(QueueName=target)["QueueUrl"]
    DeadLetter.objects.filter(queue_name=dlq).delete()
    dlq_url = sqs.get_queue_url(QueueName=dlq)["QueueUrl"]
    print(f"\nredrive of {messages:,} messages{' with a kill' if consumer else ''}", flush=True)
    since, started = datetime.now(), time.perf_counter()
    for start in range(0, messages, 10):
        sqs.send_message_batch(
            QueueUrl=dlq_url,
            Entries=[
                {"Id": str(n), "MessageBody": json.dumps({"bench": tag, "n": n})}
                for n in range(start, min(start + 10, messages))
            ],
        )
    wait(lambda: DeadLetter.objects.filter(queue_name=dlq).count() >= messages, "the archive", interval=1)
    archived = time.perf_counter() - started
    print(f"  archived by the worker function in {archived:.1f} s")
    print_invocations(archive := invocations(since, datetime.now(), source=dlq))
    user, _ = get_user_model().objects.get_or_create(username="bench-support", defaults={"is_staff": True})
    since, started = datetime.now(), time.perf_counter()
    job = jobs.redrive_start(queue_name=dlq, mode="all", target_queue=target, actor=user, parallelism=4)
    if consumer:
        wait(lambda: RedriveJob.objects.get(pk=job.pk).moved >= messages // 4, "a quarter redriven", interval=0.1)
        consumer.kill()
        consumer.restart()
    job = wait(
        lambda: (fresh := RedriveJob.objects.get(pk=job.pk)).status not in RedriveJob.ACTIVE and fresh,
        "the redrive",
        interval=0.5,
    )
    seconds = time.perf_counter() - started
    print(f"  redrive job {job.status} in {seconds:.1f} s ({messages / seconds:,.0f} messages/s), {job.runs} run(s)")
    print_invocations(found := settled_invocations(since))
    bodies: list[str] = []
    while batch := sqs.receive_message(QueueUrl=target_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    ):
        bodies += [m["Body"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=target_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )
    unique = len(set(bodies))
    waiting = DeadLetter.objects.filter(queue_name=dlq, state=DeadLetter.State.PRESENT).count()
    print(
        f"  arrived {len(bodies):,} ({unique:,} distinct, {len(bodies) - unique} sent twice), moved {job.moved:,}, "
        f"still waiting {waiting}: {'nothing lost' if unique == messages and waiting == 0 else 'LOST SOME'}"
    )
    return [
        f"Redrive, {messages:,} messages",
        f"archive {archived:.1f} s ({archive.count} invocations of the archive), redrive {seconds:.1f} s "
        f"({job.runs} run(s))",
        invocations_cell(found),
        f"{len(bodies):,} arrived, {len(bodies) - unique} sent twice, "
        f"{'none lost' if unique == messages and waiting == 0 else 'SOME LOST'}",
    ]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DB)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--messages", type=int, default=2_000)
    parser.add_argument("--environments", type=int, default=2, help="the worker function's concurrency here")
    parser.add_argument("--kill", action="store_true", help="also run each with the consumer killed halfway")
    parser.add_argument("--kill-visibility-seconds", type=int, default=300)
    parser.add_argument("--skip", default="", help="comma-separated: import,export,redrive")
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgres"):
        raise SystemExit("The benchmark needs PostgreSQL: --database-url postgres://...")
    skip = set(filter(None, args.skip.split(",")))

    from bench.stack import local_stack

    print(f"load average before: {os.getloadavg()}", flush=True)
    with local_stack(
        args.database_url,
        consumer=False,
        LOCAL_LAMBDA_CONCURRENCY=str(args.environments),
        LOG_LEVEL="INFO",
        CSV_IMPORT_STALLED_SECONDS="120",
    ):
        from console.aws import clients as aws
        from console.aws.resources import queue_url

        consumer = Consumer(dict(os.environ))
        workdir = Path(tempfile.mkdtemp(prefix="bench-worker-"))
        try:
            runs = [None] + (["kill"] if args.kill else [])
            for run in runs:
                victim = consumer if run else None
                if run:
                    visibility = str(args.kill_visibility_seconds)
                    aws.client("sqs").set_queue_attributes(
                        QueueUrl=queue_url("jobs"), Attributes={"VisibilityTimeout": visibility}
                    )
                    print(f"\n--- with a SIGKILL halfway (jobs queue visibility timeout {visibility} s) ---")
                rows = [["Job" + (", killed halfway" if run else ""), "Wall time", "Invocations, longest", "Counts"]]
                if "import" not in skip:
                    rows.append(run_import(args.rows, workdir, victim, tag=run or "plain"))
                if "export" not in skip:
                    rows.append(run_export(args.orders, victim))
                if "redrive" not in skip:
                    rows.append(run_redrive(args.messages, victim, tag=run or "plain"))
                if not skip:  # a partial run leaves the recorded figures as they are
                    record(
                        "worker_jobs_kill" if run else "worker_jobs",
                        "Jobs on the worker function" + (", the consumer killed halfway" if run else ""),
                        rows,
                        note=f"the worker function in {args.environments} execution environments"
                        + (f", the jobs queue's visibility timeout {visibility} s" if run else ""),
                    )
        finally:
            consumer.stop()
    print(f"\nload average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
