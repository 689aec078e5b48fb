"""Crash test: a redrive process killed with SIGKILL at random points, then resumed.

    .venv/bin/python bench/redrive_crash.py [--messages 2000] [--kills 10] [--seed N] [--parallelism 1] [--rate 0]

The messages are archived from a DLQ first, then one redrive job moves them back; its
process (``manage.py redrive_run JOB --takeover``, the worker's code path) is SIGKILLed
after a random delay, ``--kills`` times, and resumed each time; the last run finishes it.
Then the source queue is read: lost messages must be zero; duplicates (a batch sent but
not yet marked when the process died is sent again on resume) are counted and printed.
"""

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import sqs_messages  # noqa: E402
from bench.common import record  # noqa: E402
from bench.stack import ROOT, default_database_url, local_stack  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--rate", type=int, default=0, help="messages/s (0: no limit)")
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL, else a temporary SQLite file")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1_000_000)
    rng = random.Random(seed)

    # A bare local AWS: the benchmark makes its own queues.
    database_url = default_database_url(args.database_url)
    with local_stack(database_url, deploy=False, consumer=False, LOG_LEVEL="WARNING") as endpoint:
        env = dict(os.environ)  # the stack's settings, for the redrive processes
        import threading

        from console.aws import clients as aws
        from console.aws.resources import resource_name
        from console.devtools.local_consumer import QueuePoller, SqsRoute
        from console.runtime import jobs as job_queue
        from ops import handlers
        from ops.models import DeadLetter, RedriveJob
        from ops.redrive import jobs

        sqs = aws.client("sqs")
        n = args.messages
        dlq = resource_name("crash-dlq")
        dlq_url = sqs.create_queue(QueueName=dlq)["QueueUrl"]
        source_url = sqs.create_queue(QueueName=resource_name("crash-source"))["QueueUrl"]
        sqs_messages.fill(sqs, dlq_url, n, "crash")
        arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        poller = QueuePoller(SqsRoute("ops.handlers.dead_letters_archive", dlq, 10), threading.Event(), wait_seconds=0)
        while poller.poll_once(sqs, handlers.dead_letters_archive, dlq_url, arn):
            pass
        assert DeadLetter.objects.filter(queue_name=dlq).count() == n

        job_queue.enqueue = lambda *args, **kwargs: None  # the runs below are this script's processes
        job = jobs.redrive_start(
            queue_name=dlq,
            mode="all",
            actor=None,
            target_queue=resource_name("crash-source"),
            parallelism=args.parallelism,
            rate_limit=args.rate or None,
            source="system",
        )
        command = [sys.executable, "manage.py", "redrive_run", str(job.pk), "--takeover"]
        print(
            f"Crash test: {n} messages, {args.kills} SIGKILLs, seed {seed}, parallelism {args.parallelism}, "
            f"rate {args.rate or 'unlimited'}/s, local SQS {endpoint}"
        )
        # Kill points: random places in the run, as numbers of messages already marked
        # redriven (plus a random few milliseconds, so some land between a send and its mark).
        thresholds = sorted(rng.sample(range(1, n), min(args.kills, n - 1)))
        started = time.perf_counter()
        for kill, threshold in enumerate(thresholds, start=1):
            child = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            while child.poll() is None and RedriveJob.objects.get(pk=job.pk).moved < threshold:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.05))
            if child.poll() is None:
                os.kill(child.pid, signal.SIGKILL)
            child.wait()
            moved = RedriveJob.objects.get(pk=job.pk).moved
            print(f"  kill {kill:2d} at >= {threshold:4d} marked: killed with {moved}/{n} marked redriven")
        final = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        print(f"  resumed to the end: {final.stdout.strip() or final.stderr.strip()[-300:]}")
        elapsed = time.perf_counter() - started
        job.refresh_from_db()
        lost, duplicated = sqs_messages.check(sqs_messages.drain_bodies(sqs, source_url), n, "crash")
        waiting = DeadLetter.objects.filter(queue_name=dlq, state=DeadLetter.State.PRESENT).count()
        print()
        print(f"Job: {job.status}, {job.moved} marked redriven, {job.runs} runs, {elapsed:.1f}s")
        print(f"Lost: {lost}   Duplicated: {duplicated}   Still waiting in the archive: {waiting}")
        record(
            "redrive_crash",
            "Redrive crash test",
            [
                ["Figure", "Measured"],
                ["Messages, SIGKILLs", f"{n:,}, {args.kills} (seed {seed})"],
                ["Lost (must be 0)", lost],
                ["Sent twice (a batch sent but not yet marked when the process died)", duplicated],
                ["Still waiting in the archive", waiting],
                ["The job", f"{job.status}, {job.runs} runs, {elapsed:.1f} s"],
            ],
        )
        if lost or waiting:
            raise SystemExit("messages were lost")


if __name__ == "__main__":
    main()
