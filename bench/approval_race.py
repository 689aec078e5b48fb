"""The race: 1,000 concurrent decisions over 100 approvals, on PostgreSQL.

    .venv/bin/python bench/approval_race.py [--approvals 100] [--decisions-per-approval 10]
        [--threads 48] [--database-url postgres://postgres@127.0.0.1:5432/ops_bench]

Runs its own local stack (moto server, queue consumer) on the given PostgreSQL database
(created if missing; its tables are flushed). 100 real executions wait at their approval;
every fifth order is above the four-eyes limit. Ten operators each send a decision for
every approval (approve, or reject with a reason), all shuffled and run from a thread
pool, each thread on its own database connection. Step Functions calls are counted at
the boto3 client. Expected: decisions == approvals, Step Functions calls == approvals,
errors == 0 (a refusal such as "already approved" is the right answer, not an error).
Exits non-zero otherwise."""

import argparse
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.common import record  # noqa: E402
from bench.stack import local_stack, start_orders_to_approval  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--approvals", type=int, default=100)
    parser.add_argument("--decisions-per-approval", type=int, default=10)
    parser.add_argument("--threads", type=int, default=48)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/ops_bench")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        parser.error("the race is measured on PostgreSQL (row-level concurrency); give a postgres:// URL")

    with local_stack(args.database_url, APPROVAL_FOUR_EYES_ABOVE="5000"):
        import logging

        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group
        from django.db import connection

        from console.aws import clients as aws
        from workflows.approvals import ApprovalNotPending, approval_decide
        from workflows.models import Approval

        # 48 threads share one boto3 client pool of 10; the discarded-connection warnings are noise here.
        logging.getLogger("urllib3").setLevel(logging.ERROR)

        print(f"starting {args.approvals} executions and waiting for their approvals...", flush=True)
        approvals = start_orders_to_approval(args.approvals, total_of=lambda index: 9000 if index % 5 == 0 else 20)
        operators = []
        for index in range(args.decisions_per_approval):
            user = get_user_model().objects.create_user(f"racer-{index}", password="x", is_staff=True)
            user.groups.add(Group.objects.get(name="operator"))
            operators.append(user)

        calls, lock = [], threading.Lock()

        def count_call(event_name=None, **kwargs):
            with lock:
                calls.append(event_name)

        client = aws.client("stepfunctions")
        for operation in ("SendTaskSuccess", "SendTaskFailure"):
            client.meta.events.register(f"before-call.sfn.{operation}", count_call)

        rng = random.Random(4)
        work = [(approval.pk, operator, rng.random() < 0.7) for approval in approvals for operator in operators]
        rng.shuffle(work)
        outcomes = {"decided": 0, "first_approvals": 0, "refused": 0, "errors": 0}
        errors = []

        def decide(item) -> None:
            approval_id, operator, approve = item
            try:
                result = approval_decide(
                    approval_id=approval_id, approve=approve, actor=operator, reason="" if approve else "race: no"
                )
                key = "first_approvals" if result.is_pending else "decided"
            except ApprovalNotPending:
                key = "refused"
            except Exception as exc:  # noqa: BLE001 - every other outcome is an error to report
                key = "errors"
                errors.append(repr(exc))
            finally:
                connection.close()
            with lock:
                outcomes[key] += 1

        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            list(pool.map(decide, work))
        elapsed = time.monotonic() - started

        decided = Approval.objects.filter(
            pk__in=[a.pk for a in approvals],
            status__in=[Approval.Status.APPROVED, Approval.Status.REJECTED],
            delivered_at__isnull=False,
        ).count()
        four_eyes_ok = (
            not Approval.objects.filter(
                pk__in=[a.pk for a in approvals], status=Approval.Status.APPROVED, required_approvals=2
            )
            .exclude(first_approved_by__isnull=False)
            .exists()
        )

    print(f"race: {len(work)} concurrent decisions over {len(approvals)} approvals, {args.threads} threads")
    print(f"  decisions (approvals decided and delivered): {decided}")
    print(f"  Step Functions calls: {len(calls)}")
    print(f"  errors: {outcomes['errors']}")
    print(
        f"  refused (already decided / claimed / same approver): {outcomes['refused']}, "
        f"first approvals of four-eyes orders: {outcomes['first_approvals']}, elapsed {elapsed:.1f}s"
    )
    for line in errors[:5]:
        print("   ", line)
    ok = decided == len(approvals) and len(calls) == len(approvals) and not outcomes["errors"] and four_eyes_ok
    print("OK" if ok else "FAILED")
    record(
        "approval_race",
        "The approval race",
        [
            ["Figure", "Measured"],
            [
                "Concurrent decisions",
                f"{len(work):,} over {len(approvals)} approvals (every fifth four-eyes), {args.threads} threads, "
                f"PostgreSQL, {elapsed:.1f} s",
            ],
            ["Approvals decided and delivered", decided],
            ["Step Functions calls", len(calls)],
            ["Errors", outcomes["errors"]],
            [
                "Refused (already decided, claimed, same approver); first approvals of four-eyes orders",
                f"{outcomes['refused']}; {outcomes['first_approvals']}",
            ],
            ["Result", "OK" if ok else "FAILED"],
        ],
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
