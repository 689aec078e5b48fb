"""schemathesis against the schema the server serves (``/api/schema``), on a live server of
the test app with the local AWS and the consumer running (the ``stack`` fixture): every
operation answers for real, AWS calls included.

Two runs, each with a real bearer token: a superuser (every API permission) and an
api-client. Each runs schemathesis' phases (the schema's examples, the coverage of
boundaries and invalid values, random fuzzing with values taken from earlier responses,
and stateful sequences linked by inferred dependencies) with every check, bounded by
``SCHEMATHESIS_MAX_EXAMPLES`` cases per operation and a request timeout. The bar: no 5xx
and no answer the schema does not describe (status code, content type, body, headers),
methods a route lacks answered 405 with ``Allow``, requests without the token refused.
What the server accepts or refuses beyond the schema is reported (``ADVISORY``).

The run's figures are printed and written to ``TEST_ARTIFACTS_DIR/schemathesis-<run>/``
(JSON report, HAR of every exchange, the output). ``SCHEMATHESIS_SEED`` fixes the seed
(CI's default is fixed, so a run is repeatable; ``SCHEMATHESIS_SEED=random`` explores).
tests/api/schemathesis_hooks.py keeps the run off known answers that are not this run's to
judge (each says why); ``SCHEMATHESIS_HOOKS=`` runs without them, to check a fix.

Deselect with ``-m "not schemathesis"``.
"""

import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from knox.models import AuthToken

from console.aws.resources import resource_name
from console.platform import roles
from tests.conftest import BASE_DIR, make_user

pytestmark = [pytest.mark.schemathesis, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "15"))
SEED = os.environ.get("SCHEMATHESIS_SEED", "20261127")
HOOKS = os.environ.get("SCHEMATHESIS_HOOKS", "tests.api.schemathesis_hooks")
RUN_TIMEOUT = 600


@dataclass
class Outcome:
    name: str
    seconds: float
    exit_code: int
    cases: int
    operations_tested: int
    statuses: Counter = field(default_factory=Counter)
    failures: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)
    output: str = ""

    @property
    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status >= 500)

    def summary(self) -> str:
        lines = [
            f"schemathesis [{self.name}]: {self.cases} cases over {self.operations_tested} operations "
            f"in {self.seconds:.0f}s; {sum(self.statuses.values())} responses, {self.server_errors} 5xx; "
            f"{len(self.failures)} failure groups, {len(self.errors)} errors (exit {self.exit_code})",
            "  statuses: " + ", ".join(f"{status}×{count}" for status, count in sorted(self.statuses.items())),
        ]
        lines += [
            f"  {'note' if f['code'] in ADVISORY else 'FAIL'} {f['code']} {f['title']} ×{f['count']}: "
            + ", ".join(f["operations"])
            for f in self.failures
        ]
        lines += [f"  ERROR {e['title']} ×{e['count']}" for e in self.errors]
        return "\n".join(lines)


def token_for(user) -> str:
    return AuthToken.objects.create(user=user)[1]


def _toml(value) -> str:
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def schemathesis_config(data: dict[str, list]) -> str:
    """schemathesis.toml: no state kept between runs, and the seeded rows' ids and names as
    dictionaries that path parameters draw from most of the time (random values the rest),
    so that operations on one resource reach their logic instead of answering 404."""
    lines = [f"hooks = {json.dumps(HOOKS)}" if HOOKS else "", "", "[cache]", "enabled = false", ""]
    for name, values in data.items():
        lines += [f"[dictionaries.{name}]", f"values = {_toml(values)}", ""]
    lines += [
        "[parameters]",
        '"path.approval_id" = { dictionary = "approvals", probability = 0.7 }',
        '"path.order_id" = { dictionary = "orders", probability = 0.7 }',
        '"path.job_id" = { dictionary = "redrives", probability = 0.7 }',
        '"path.import_id" = { dictionary = "imports", probability = 0.7 }',
        '"body.messageIds[*]" = { dictionary = "dead_letters", probability = 0.7 }',
        '"body.username" = { dictionary = "users", probability = 0.5 }',
        '"body.owner" = { dictionary = "users", probability = 0.5 }',
        "",
        # {name} is a dead-letter queue under /api/dlqs/ and an alarm under /api/alarms/.
        "[[operations]]",
        'include-path-regex = "^/api/dlqs/"',
        'parameters = { "path.name" = { dictionary = "dlqs", probability = 0.8 } }',
        "",
        "[[operations]]",
        'include-path-regex = "^/api/alarms/"',
        'parameters = { "path.name" = { dictionary = "alarms", probability = 0.8 } }',
        "",
    ]
    return "\n".join(lines)


def schemathesis_run(
    *,
    name: str,
    base_url: str,
    token: str,
    artifacts: Path,
    config: str,
    phases: str = "examples,coverage,fuzzing,stateful",
    max_examples: int = MAX_EXAMPLES,
) -> Outcome:
    """``st run`` against the live server's schema, with every check; the figures of the run."""
    out = artifacts / f"schemathesis-{name}"
    out.mkdir(parents=True, exist_ok=True)
    report, har = out / "report.json", out / "exchanges.har"
    (out / "schemathesis.toml").write_text(config)
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(out / "schemathesis.toml"),
        "run",
        f"{base_url}/api/schema",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--phases",
        phases,
        "--max-examples",
        str(max_examples),
        "--request-timeout",
        "20",
        "--continue-on-failure",
        "--generation-database",
        "none",
        # The live server answers requests in threads: two workers keep both cores busy.
        "--workers",
        "2",
        "--no-color",
        "--output-sanitize",
        "true",
        "--report",
        "json,har",
        "--report-json-path",
        str(report),
        "--report-har-path",
        str(har),
    ]
    if SEED != "random":
        command += ["--seed", SEED]
    started = time.monotonic()
    # In its own directory: schemathesis writes nothing into the checkout.
    env = {**os.environ, "PYTHONPATH": str(BASE_DIR)}  # for the hooks module
    process = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT, cwd=out, env=env)
    seconds = time.monotonic() - started
    (out / "output.txt").write_text(process.stdout + process.stderr)
    document = json.loads(report.read_text()) if report.exists() else {}
    statuses: Counter = Counter()
    if har.exists():
        for entry in json.loads(har.read_text())["log"]["entries"]:
            statuses[entry["response"]["status"]] += 1
    return Outcome(
        name=name,
        seconds=seconds,
        exit_code=process.returncode,
        cases=document.get("test_cases", {}).get("generated", 0),
        operations_tested=document.get("operations", {}).get("tested", 0),
        statuses=statuses,
        failures=document.get("failures", []),
        errors=document.get("errors", []),
        output=process.stdout[-20000:] + process.stderr[-5000:],
    )


@pytest.fixture
def api_data(stack, settings) -> dict[str, list]:
    """Something behind every route: orders, pending approvals, archived dead letters, an
    alarm with history, a redrive job, an import; their ids and names, by kind."""
    from console.aws import clients as aws
    from console.aws import resources, s3
    from ops import sqs as ops_sqs
    from ops.models import Alarm, AlarmEvent, DeadLetter, RedriveJob
    from orders.imports.services import csv_import_object, import_run_inline
    from orders.models import Order
    from tests.ops.conftest import archived, put_in_dlq
    from tests.workflows.conftest import make_pending_approval

    # The run sends far more than a client's budget; 429 is documented, but cases spent
    # on it test nothing else.
    settings.API_THROTTLE_RATE = 1_000_000
    settings.API_THROTTLE_BURST = 1_000_000

    approvals = [make_pending_approval("token-a"), make_pending_approval("token-b")]
    dlq = resource_name("steps-dlq")
    put_in_dlq(dlq, [json.dumps({"step": "CheckInventory", "orderId": "o-1"}), json.dumps({"api": 1})])
    archived(dlq, 2)
    job = RedriveJob.objects.create(queue_name=dlq, target_queue="", mode="all", status="succeeded", total=1, moved=1)
    alarm = resource_name("lambda-errors")
    # The consumer's scheduled refresh records the stage's alarms too, at any moment.
    Alarm.objects.update_or_create(name=alarm, defaults={"state": "ALARM", "state_reason": "Threshold crossed"})
    AlarmEvent.objects.create(alarm_name=alarm, state="ALARM", occurred_at="2026-11-27T09:00:00Z", source="event")

    bucket = resources.files_bucket()
    key = "incoming/orders/schemathesis.csv"
    body = b"order_reference,user_id,product_id,name,quantity,price\nS-1,c,p,n,1,1\nS-2,c,p,n,x,1\n"
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/csv")
    imported = import_run_inline(import_id=csv_import_object(info=s3.head(bucket=bucket, key=key), mode="history").pk)
    return {
        "approvals": [str(approval.pk) for approval in approvals],  # the path's pattern is digits, as text
        "orders": [str(pk) for pk in Order.objects.values_list("pk", flat=True)],
        "redrives": [str(job.pk)],
        "imports": [str(imported.pk)],
        "dead_letters": list(DeadLetter.objects.values_list("pk", flat=True)),
        "dlqs": [queue.name for queue in ops_sqs.dead_letter_queues()],
        "alarms": [alarm],
        "users": ["schemathesis-admin", "schemathesis-client", "nobody-by-this-name"],
    }


# Findings about what the server accepts, reported but not failing the run: schema-valid
# input refused for reasons the schema cannot say (no such user, a queue name to retype,
# nothing to redrive), and schema-invalid input DRF accepts on purpose (an empty optional
# query parameter means "no filter"; a number where a string is expected is taken as its
# text). Everything else (5xx, undocumented status, content type or body, headers, 405s,
# auth) fails it.
ADVISORY = {"ST201", "ST202"}


def _assert_clean(outcome: Outcome) -> None:
    print(outcome.summary())
    assert outcome.cases > 0 and not outcome.errors, outcome.output
    failing = [f for f in outcome.failures if f["code"] not in ADVISORY]
    assert outcome.server_errors == 0 and not failing, outcome.summary() + "\n\n" + outcome.output


def test_schemathesis_with_a_superuser_token(api_data, live_server, artifacts_dir):
    admin = make_user("schemathesis-admin", roles.ADMIN)
    admin.is_superuser = True
    admin.save(update_fields=["is_superuser"])
    outcome = schemathesis_run(
        name="superuser",
        base_url=live_server.url,
        token=token_for(admin),
        artifacts=artifacts_dir,
        config=schemathesis_config(api_data),
    )
    _assert_clean(outcome)


def test_schemathesis_with_an_api_client_token(api_data, live_server, artifacts_dir):
    """An api-client may use the order, upload and import routes; every other one answers
    403 (405 for a method it lacks). Fewer random cases than the superuser's run: most
    operations end at the permission check, which the coverage phase reaches already."""
    client = make_user("schemathesis-client", roles.API_CLIENT, staff=False)
    outcome = schemathesis_run(
        name="api-client",
        base_url=live_server.url,
        token=token_for(client),
        artifacts=artifacts_dir,
        config=schemathesis_config(api_data),
        phases="examples,coverage,fuzzing",
        max_examples=max(3, MAX_EXAMPLES // 3),
    )
    _assert_clean(outcome)
