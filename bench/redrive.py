"""Redrive benchmark: SQS calls per redriven message and wall time against a plain boto3
loop on the same local SQS server, in the same run.

    .venv/bin/python bench/redrive.py [--messages 2000] [--parallelism 1] [--rate 0] [--rounds 1]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ops_bench_i6 .venv/bin/python bench/redrive.py

The local SQS (moto) does work proportional to a queue's length on every call, so absolute
throughput says little about AWS: what carries over is the number of calls per message
and the ratio to the plain loop. "Ours" is the whole path a dead letter takes here: the
archiver takes it from the DLQ (receive + delete, as Lambda's event source would, through
the same handler), then the redrive job sends it back (send in batches of ten). Both
moves end with every message in the source queue and the DLQ empty; each is checked for
lost and duplicated messages.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import sqs_messages  # noqa: E402
from bench.common import record  # noqa: E402
from bench.stack import default_database_url, local_stack  # noqa: E402


def baseline_loop(sqs, dlq_url: str, source_url: str, batch: int = 10) -> None:
    """What a careful engineer writes with boto3: receive, send, delete, in batches."""
    while True:
        messages = sqs.receive_message(
            QueueUrl=dlq_url, MaxNumberOfMessages=batch, WaitTimeSeconds=0, MessageAttributeNames=["All"]
        ).get("Messages", [])
        if not messages:
            return
        sqs.send_message_batch(
            QueueUrl=source_url,
            Entries=[
                {"Id": str(i), "MessageBody": m["Body"], "MessageAttributes": m.get("MessageAttributes", {})}
                for i, m in enumerate(messages)
            ],
        )
        sqs.delete_message_batch(
            QueueUrl=dlq_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )


def ours(sqs, dlq: str, dlq_url: str, parallelism: int, rate: int | None) -> tuple[float, float, int]:
    """Archive (the Lambda handler, fed by the local event source) then redrive.
    Returns (archive seconds, redrive seconds, messages archived)."""
    import threading

    from console.devtools.local_consumer import QueuePoller, SqsRoute
    from console.runtime import jobs as job_queue
    from ops import handlers
    from ops.models import RedriveJob
    from ops.redrive import jobs, runner

    arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    poller = QueuePoller(SqsRoute("ops.handlers.dead_letters_archive", dlq, 10), threading.Event(), wait_seconds=0)
    started = time.perf_counter()
    archived = 0
    while True:
        moved = poller.poll_once(sqs, handlers.dead_letters_archive, dlq_url, arn)
        if not moved:
            break
        archived += moved
    archive_seconds = time.perf_counter() - started

    job_queue.enqueue = lambda *args, **kwargs: None  # run the job here, not on a worker
    started = time.perf_counter()
    job = jobs.redrive_start(
        queue_name=dlq, mode="all", actor=None, parallelism=parallelism, rate_limit=rate, source="system"
    )
    job = runner.redrive_job_run(job_id=job.pk)
    redrive_seconds = time.perf_counter() - started
    assert job.status == RedriveJob.Status.SUCCEEDED, (job.status, job.last_error)
    return archive_seconds, redrive_seconds, archived


def one_message_loop_calls(sqs, dlq_url: str, source_url: str, count: int = 50) -> float:
    sqs_messages.fill(sqs, dlq_url, count, "single")
    with sqs_messages.CallCounter(sqs) as counter:
        baseline_loop(sqs, dlq_url, source_url, batch=1)
    calls = counter.total() - 1  # the final empty receive
    sqs_messages.drain_bodies(sqs, source_url)
    return calls / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--parallelism", type=int, default=1)
    parser.add_argument("--rate", type=int, default=0, help="messages/s (0: no limit)")
    parser.add_argument("--rounds", type=int, default=1, help="alternate baseline and ours this many times")
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL, else a temporary SQLite file")
    args = parser.parse_args()

    # A bare local AWS: the benchmark makes its own queues.
    database_url = default_database_url(args.database_url)
    with local_stack(database_url, deploy=False, consumer=False, LOG_LEVEL="WARNING") as endpoint:
        from django.conf import settings

        from console.aws import clients as aws
        from console.aws.resources import resource_name

        sqs = aws.client("sqs")
        source = resource_name("bench-source")
        dlq = resource_name("bench-dlq")
        dlq_url = sqs.create_queue(QueueName=dlq)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        import json

        source_url = sqs.create_queue(
            QueueName=source,
            Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
        )["QueueUrl"]
        n = args.messages
        print(
            f"Redrive benchmark: {n} messages, parallelism {args.parallelism}, rate "
            f"{args.rate or 'unlimited'}/s, database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
            f"local SQS {endpoint}"
        )

        single = one_message_loop_calls(sqs, dlq_url, source_url)
        base_times, our_times, base_calls, our_calls = [], [], [], []
        for round_number in range(args.rounds):
            tag = f"b{round_number}"
            sqs_messages.fill(sqs, dlq_url, n, tag)
            with sqs_messages.CallCounter(sqs) as counter:
                started = time.perf_counter()
                baseline_loop(sqs, dlq_url, source_url)
                base_times.append(time.perf_counter() - started)
            base_calls.append(counter.total() - 1)  # the final empty receive
            lost, duplicated = sqs_messages.check(sqs_messages.drain_bodies(sqs, source_url), n, tag)
            print(
                f"  baseline round {round_number + 1}: {base_times[-1]:.2f}s, {base_calls[-1]} calls, "
                f"lost {lost}, duplicated {duplicated}"
            )

            tag = f"o{round_number}"
            sqs_messages.fill(sqs, dlq_url, n, tag)
            with sqs_messages.CallCounter(sqs) as counter:
                archive_s, redrive_s, archived = ours(sqs, dlq, dlq_url, args.parallelism, args.rate or None)
            our_times.append(archive_s + redrive_s)
            our_calls.append(counter.total() - 1)
            lost, duplicated = sqs_messages.check(sqs_messages.drain_bodies(sqs, source_url), n, tag)
            print(
                f"  ours     round {round_number + 1}: {our_times[-1]:.2f}s (archive {archive_s:.2f}s + redrive "
                f"{redrive_s:.2f}s), {our_calls[-1]} calls {dict(counter.calls)}, lost {lost}, duplicated {duplicated}"
            )
            assert archived == n and lost == 0 and duplicated == 0, "messages lost or duplicated"

        base_time, our_time = statistics.median(base_times), statistics.median(our_times)
        print()
        print(
            f"SQS calls per redriven message: ours {statistics.median(our_calls) / n:.3f} "
            f"(plain batched loop {statistics.median(base_calls) / n:.3f}; one-message loop {single:.1f})"
        )
        print(
            f"Wall time for {n} messages: ours {our_time:.2f}s, plain batched loop {base_time:.2f}s, "
            f"ratio {our_time / base_time:.2f} (target <= 1.2)"
        )
        print("Lost: 0, duplicated: 0 (checked every round)")
        record(
            "redrive",
            "Dead-letter redrive",
            [
                ["Figure", "Ours", "Plain boto3 batched loop (same run)"],
                [
                    "SQS calls per redriven message",
                    f"{statistics.median(our_calls) / n:.3f}",
                    f"{statistics.median(base_calls) / n:.3f} (one-message loop {single:.1f})",
                ],
                [
                    f"Wall time, {n:,} messages (median of {args.rounds})",
                    f"{our_time:.1f} s (last round: archive {archive_s:.1f} s, redrive {redrive_s:.1f} s)",
                    f"{base_time:.1f} s (ratio {our_time / base_time:.2f})",
                ],
                ["Lost, duplicated", "0, 0", "0, 0"],
            ],
            note=f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, parallelism "
            f"{args.parallelism}, rate {args.rate or 'unlimited'}",
        )


if __name__ == "__main__":
    main()
