"""Workflow starts against order creation, on the benchmarks' local stack as deployed.

    .venv/bin/python -m bench.workflow_starts [--database-url postgres://...] [--rate 25] [--seconds 30]
                                             [--threads 16] [--no-kill] [--timeout 1200]

(or ``make bench-starts``.) On the benchmarks' local stack (bench/stack.py: a moto server
with infra/ deployed, PostgreSQL, the consumer running the stage's two functions, the
worker function in ``--environments`` execution environments):

1. **The ceiling**: moto's own StartExecution rate, a plain boto3 loop (one caller, one
   call at a time) on a copy of the order workflow's definition whose tasks go to a
   scratch queue, measured before the runs and again after them (moto keeps a thread per
   open execution, so it slows down as executions pile up). moto parses the definition
   again for every execution: about 0.09 s of its CPU each for this one.
   With ``--machine pass`` the stage's order workflow is replaced, for the consumer, by a
   one-state machine (``ORDER_STATE_MACHINE_ARN``), about ten times cheaper for moto to
   start, and the ceiling is measured on it: where the local engine is not the limit.
2. **A creation burst**: ``--rate`` orders a second for ``--seconds`` seconds, made by
   ``orders.services.order_create`` in ``--threads`` threads of this process (the service
   the REST API calls, with its own transaction and its after-commit hand-off: no HTTP in
   front of it), while the stage starts their workflows as deployed.
3. **The same burst with the consumer killed** (SIGKILL, with its execution environments)
   halfway and started again at once. The jobs queue keeps its deployed visibility timeout
   (90 minutes): whatever a killed invocation held comes back only then, or is picked up
   by the scheduled sweep (every 5 minutes, from the consumer's start).

For each burst: the creation rate achieved, the start rate (during the burst, and
sustained: orders over the span between the first and the last start), the orders still
without an execution when the burst ends, the time until every order has its execution,
and the worker function's invocations from the jobs queue (the consumer's REPORT lines).
Two cores are shared by moto, PostgreSQL, the consumer's environments and this process:
the figures move with the machine's load, printed before and after.
"""

import argparse
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import record  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/ops_bench_starts"
ITEMS = [{"product_id": "bench", "name": "Bench item", "quantity": 1, "price": Decimal("20")}]


# --- The ceiling: moto's own StartExecution rate -----------------------------------------------


def ceiling_machine() -> str:
    """A state machine with the order workflow's definition, its tasks sent to a scratch
    queue nobody reads (the executions wait there, as ours wait for their steps)."""
    from console.aws import clients as aws
    from console.aws.resources import resource_name

    sqs, sfn = aws.client("sqs"), aws.client("stepfunctions")
    scratch = sqs.create_queue(QueueName=resource_name("bench-ceiling-tasks"))["QueueUrl"]
    definition = (ROOT / "workflows" / "definitions" / "order-processing.asl.json").read_text()
    definition = definition.replace("${StepsQueueUrl}", scratch).replace("${ApprovalsQueueUrl}", scratch)
    name = resource_name("bench-ceiling")
    arn = f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
    except sfn.exceptions.StateMachineDoesNotExist:
        arn = sfn.create_state_machine(
            name=name, definition=definition, roleArn="arn:aws:iam::123456789012:role/bench"
        )["stateMachineArn"]
    return arn


def pass_machine() -> str:
    """A one-state machine started in the order workflow's place (``--machine pass``)."""
    from console.aws import clients as aws
    from console.aws.resources import resource_name

    sfn = aws.client("stepfunctions")
    return sfn.create_state_machine(
        name=resource_name("bench-pass"),
        definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/bench",
    )["stateMachineArn"]


def moto_ceiling(machine_arn: str, tag: str, seconds: float = 8.0) -> float:
    """StartExecution calls a second from a plain boto3 loop, for ``seconds``."""
    from console.aws import clients as aws
    from workflows.starts import workflow_policy

    sfn = aws.client("stepfunctions")
    policy = workflow_policy()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        sfn.start_execution(
            stateMachineArn=machine_arn,
            name=f"ceiling-{tag}-{count}",
            input=json.dumps({"orderId": f"ceiling-{count}", "userId": "bench", "total": 20.0, "policy": policy}),
        )
        count += 1
    return count / (time.perf_counter() - started)


# --- A burst -----------------------------------------------------------------------------------


@dataclass
class Burst:
    tag: str
    created: list[tuple[str, float]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    began: float = 0.0
    ended: float = 0.0


def create_orders(tag: str, rate: float, seconds: float, threads: int, halfway=None) -> Burst:
    """``rate`` orders a second for ``seconds``, order ``n`` due at ``n / rate`` seconds,
    spread over ``threads`` threads; ``halfway()`` is called in this thread at half time."""
    from django.db import connection

    from orders.services import order_create

    burst = Burst(tag)
    total = int(rate * seconds)
    lock = threading.Lock()
    burst.began = time.monotonic() + 0.2

    def make(first: int) -> None:
        try:
            for index in range(first, total, threads):
                delay = burst.began + index / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                try:
                    order = order_create(user_id=f"{tag}-{index}", items=ITEMS)
                except Exception as exc:  # noqa: BLE001 - counted and printed, the burst goes on
                    with lock:
                        burst.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                with lock:
                    burst.created.append((str(order.pk), time.monotonic()))
        finally:
            connection.close()

    workers = [threading.Thread(target=make, args=(n,), name=f"create-{n}") for n in range(threads)]
    for worker in workers:
        worker.start()
    if halfway is not None:
        time.sleep(max(0.0, burst.began + seconds / 2 - time.monotonic()))
        halfway()
    for worker in workers:
        worker.join()
    burst.ended = time.monotonic()
    return burst


def started_count(tag: str) -> int:
    """Orders of this burst whose execution Step Functions has (an ARN recorded)."""
    from workflows.models import Execution

    return Execution.objects.filter(order__user_id__startswith=f"{tag}-").exclude(arn="").count()


def run_burst(args, tag: str, consumer=None) -> dict[str, str]:
    from bench.worker_jobs import invocations
    from workflows.models import Execution

    killed = consumer is not None
    print(
        f"\n--- burst {tag}: {args.rate:g} orders/s for {args.seconds:g} s in {args.threads} threads"
        f"{', consumer killed halfway' if killed else ''} ---",
        flush=True,
    )

    def kill_and_restart() -> None:
        consumer.kill()
        consumer.restart()

    since = datetime.now()
    burst = create_orders(tag, args.rate, args.seconds, args.threads, halfway=kill_and_restart if killed else None)
    created = len(burst.created)
    span = max(t for _, t in burst.created) - burst.began if burst.created else 0.0
    at_end = started_count(tag)
    print(
        f"  created {created} orders in {span:.1f} s: {created / max(span, 1e-9):.1f} orders/s"
        f" ({len(burst.errors)} failed{': ' + burst.errors[0] if burst.errors else ''})"
    )
    print(
        f"  when the burst ended: {at_end} started ({at_end / max(burst.ended - burst.began, 1e-9):.1f} starts/s"
        f" during the burst), {created - at_end} orders without an execution"
    )
    deadline = time.monotonic() + args.timeout
    done = at_end
    while done < created and time.monotonic() < deadline:
        time.sleep(0.5)
        done = started_count(tag)
    finished = time.monotonic()
    if done < created:
        print(f"  NOT ALL STARTED: {done} of {created} after {finished - burst.ended:.0f} s past the burst's end")
        every = f"NOT ALL: {done} of {created} after {finished - burst.ended:.0f} s"
    else:
        every = f"{finished - burst.ended:.1f} s"
        print(
            f"  every order has its execution {finished - burst.began:.1f} s after the burst began,"
            f" {finished - burst.ended:.1f} s after it ended"
        )
    times = sorted(
        Execution.objects.filter(order__user_id__startswith=f"{tag}-")
        .exclude(arn="")
        .values_list("started_at", flat=True)
    )
    times = [t for t in times if t is not None]
    sustained = 0.0
    if len(times) > 1:
        sustained = (len(times) - 1) / max((times[-1] - times[0]).total_seconds(), 1e-9)
        print(f"  start rate sustained (first to last start): {sustained:.1f} starts/s over {len(times)} starts")
    time.sleep(3)  # the last REPORT lines
    jobs = invocations(since, datetime.now())
    print(f"  worker function invocations from the jobs queue: {jobs.count} ({jobs.failed} not ok)", flush=True)
    return {
        "creation achieved": f"{created / max(span, 1e-9):.1f}/s ({len(burst.errors)} failed)",
        "starts during the burst; orders without an execution at its end": (
            f"{at_end / max(burst.ended - burst.began, 1e-9):.1f}/s; {created - at_end}"
        ),
        "every order has its execution, after the burst ended": every,
        "start rate, first to last start": f"{sustained:.1f}/s",
        "jobs the worker function ran": f"{jobs.count} ({jobs.failed} not ok)",
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL") or DEFAULT_DB)
    parser.add_argument("--rate", type=float, default=25.0, help="orders created a second")
    parser.add_argument("--seconds", type=float, default=30.0, help="the burst's length")
    parser.add_argument("--threads", type=int, default=16, help="threads calling order_create (the API's concurrency)")
    parser.add_argument("--environments", type=int, default=2, help="the worker function's concurrency here")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds to wait for every start")
    parser.add_argument("--no-kill", action="store_true", help="skip the burst with the consumer killed")
    parser.add_argument(
        "--machine", choices=["order", "pass"], default="order", help="what the stage starts: see the docstring"
    )
    args = parser.parse_args(argv)
    if not args.database_url.startswith("postgres"):
        raise SystemExit("The benchmark needs PostgreSQL: --database-url postgres://...")

    from bench.stack import local_stack
    from bench.worker_jobs import Consumer

    print(f"load average before: {os.getloadavg()}", flush=True)
    with local_stack(
        args.database_url, consumer=False, LOCAL_LAMBDA_CONCURRENCY=str(args.environments), LOG_LEVEL="INFO"
    ):
        env = dict(os.environ)
        if args.machine == "pass":
            machine = env["ORDER_STATE_MACHINE_ARN"] = pass_machine()
            print(f"the stage starts {machine} (one Pass state) in the order workflow's place")
        else:
            machine = ceiling_machine()
        before = moto_ceiling(machine, "a")
        print(f"moto StartExecution ceiling before the runs (plain boto3 loop): {before:.1f}/s")
        print(f"WORKFLOW_START_PARALLELISM={env.get('WORKFLOW_START_PARALLELISM', 'default')}", flush=True)
        consumer = Consumer(env)
        try:
            bursts = {"plain": run_burst(args, "plain")}
            if not args.no_kill:
                bursts["consumer killed halfway"] = run_burst(args, "kill", consumer=consumer)
        finally:
            consumer.stop()
        after = moto_ceiling(machine, "b")
        print(f"\nmoto StartExecution ceiling after the runs (plain boto3 loop): {after:.1f}/s")
    print(f"load average after: {os.getloadavg()}")
    record(
        "workflow_starts" + ("_pass" if args.machine == "pass" else ""),
        "Workflow starts" + (", one-state machine" if args.machine == "pass" else ""),
        [[f"Burst of {int(args.rate * args.seconds):,} orders ({args.threads} threads)", *bursts]]
        + [[figure, *(burst[figure] for burst in bursts.values())] for figure in bursts["plain"]]
        + [
            ["moto's own StartExecution rate, before and after the runs", f"{before:.1f}/s, {after:.1f}/s"]
            + [""] * (len(bursts) - 1)
        ],
        note=f"{args.rate:g} orders/s for {args.seconds:g} s; the worker function in {args.environments} "
        f"execution environments; WORKFLOW_START_PARALLELISM={env.get('WORKFLOW_START_PARALLELISM', 'default')}",
    )


if __name__ == "__main__":
    main()
