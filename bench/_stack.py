"""Shared by the benchmarks: a local AWS (moto server) of their own, a database, and SQS
call counting. Nothing here is imported by the application."""

import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def start(database_url: str | None) -> tuple[subprocess.Popen, str, dict[str, str]]:
    """Start moto on a free port and point Django at it; returns (process, endpoint, env)."""
    from console.devstack import free_port, moto_command, wait_for_port

    port = free_port()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "DJANGO_SETTINGS_MODULE": "console.settings.dev",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "LOG_LEVEL": "WARNING",
    }
    if not database_url:
        database_url = f"sqlite:///{tempfile.mkdtemp(prefix='ops-bench-')}/bench.sqlite3"
    env["DATABASE_URL"] = database_url
    os.environ.update(env)
    if database_url.startswith("postgres"):
        import psycopg

        base, name = database_url.rsplit("/", 1)
        with psycopg.connect(f"{base}/postgres", autocommit=True) as connection:
            if not connection.execute("select 1 from pg_database where datname = %s", [name]).fetchone():
                connection.execute(f'create database "{name}"')
    process = subprocess.Popen(
        moto_command(port), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    wait_for_port(port, process=process)
    time.sleep(0.5)

    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)  # a reused bench database starts empty
    return process, env["AWS_ENDPOINT_URL"], env


class CallCounter:
    """Counts the API calls a client makes while it is active, by operation (every call
    goes through the client's ``_make_api_call``)::

        with CallCounter(sqs) as counter:
            ...
        counter.total()
    """

    def __init__(self, client):
        self.client = client
        self.calls: Counter[str] = Counter()

    def __enter__(self) -> "CallCounter":
        self.calls.clear()
        original = self.client._make_api_call

        def counted(operation_name, api_params):
            self.calls[operation_name] += 1
            return original(operation_name, api_params)

        self.client._make_api_call = counted
        return self

    def __exit__(self, *exc) -> None:
        del self.client._make_api_call  # back to the class's method

    def total(self) -> int:
        return sum(self.calls.values())


def fill(sqs, url: str, count: int, tag: str) -> None:
    """``count`` messages with unique bodies and two message attributes, in batches of ten."""
    for start in range(0, count, 10):
        sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {
                    "Id": str(n),
                    "MessageBody": f'{{"bench": "{tag}", "n": {n}}}',
                    "MessageAttributes": {
                        "tenant": {"DataType": "String", "StringValue": f"t{n % 7}"},
                        "attempt": {"DataType": "Number", "StringValue": "1"},
                    },
                }
                for n in range(start, min(start + 10, count))
            ],
        )


def drain_bodies(sqs, url: str) -> list[str]:
    bodies = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not batch:
            # moto answers an empty receive while messages are in flight; check the depth.
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
            if (
                int(attributes["ApproximateNumberOfMessages"])
                + int(attributes["ApproximateNumberOfMessagesNotVisible"])
                == 0
            ):
                return bodies
            time.sleep(0.2)
            continue
        bodies.extend(m["Body"] for m in batch)
        sqs.delete_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )


def check(bodies: list[str], expected: int, tag: str) -> tuple[int, int]:
    """(lost, duplicated) among the messages tagged ``tag``."""
    import json

    numbers = [json.loads(b)["n"] for b in bodies if f'"{tag}"' in b]
    seen = Counter(numbers)
    lost = sum(1 for n in range(expected) if n not in seen)
    duplicated = sum(c - 1 for c in seen.values() if c > 1)
    return lost, duplicated


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
