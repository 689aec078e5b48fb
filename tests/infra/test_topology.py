"""Local = AWS, queue for queue: infra/topology.py on the real files, on the previous
design (one function per stage, the jobs queue unconsumed on AWS) and on small breakages."""

import copy
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from infra import topology
from infra.deploy import TEMPLATE, load_template

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Files:
    """Copies of zappa_settings.json and infra/template.yaml to break, written on use."""

    directory: Path
    zappa: dict
    template: dict

    def topology(self, stage: str = "dev", source_root: Path = ROOT) -> topology.Topology:
        zappa_path = self.directory / "zappa_settings.json"
        template_path = self.directory / "template.yaml"
        zappa_path.write_text(json.dumps(self.zappa, indent=2))
        template_path.write_text(yaml.safe_dump(self.template, sort_keys=False))
        return topology.load_topology(stage, zappa_path, template_path, source_root)

    def problems(self, stage: str = "dev") -> list[str]:
        return topology.problems(self.topology(stage))

    def events(self, stage: str) -> list[dict]:
        return self.zappa[stage]["events"]

    def resource(self, logical_id: str) -> dict:
        return self.template["Resources"][logical_id]


@pytest.fixture
def files(tmp_path) -> Files:
    template = load_template()
    for resource in template["Resources"].values():
        location = resource.get("Properties", {}).get("DefinitionS3Location")
        if isinstance(location, str):  # relative to the template's folder: keep it findable from tmp_path
            resource["Properties"]["DefinitionS3Location"] = str((TEMPLATE.parent / location).resolve())
    return Files(tmp_path, json.loads(topology.ZAPPA_SETTINGS.read_text()), template)


def previous_design(zappa: dict) -> dict:
    """zappa_settings.json as it was before the worker stages (commit b6b2e54): one stage per
    environment with every event, and nothing consuming the jobs queue."""
    old = copy.deepcopy(zappa)
    for stage in ("dev", "prod"):
        worker = old.pop(f"{stage}-worker")
        jobs_arn = f"arn:aws:sqs:us-east-1:123456789012:ops-console-{stage}-jobs"
        old[stage]["events"] += [e for e in worker["events"] if e.get("event_source", {}).get("arn") != jobs_arn]
    return old


def sqs_source(function: str, queue: str, batch_size: int = 10) -> dict:
    arn = f"arn:aws:sqs:us-east-1:123456789012:{queue}"
    return {"function": function, "event_source": {"arn": arn, "batch_size": batch_size, "enabled": True}}


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_real_files_pass(stage):
    found = topology.load_topology(stage)

    assert topology.problems(found) == []
    rows = {row.queue: row for row in topology.queue_rows(found)}
    jobs = rows[f"ops-console-{stage}-jobs"]
    assert jobs.kind == "work queue"
    assert jobs.consumer == f"ops-console-{stage}-worker: console.runtime.lambda_jobs.celery_jobs"
    assert jobs.dead_letter == f"ops-console-{stage}-jobs-dlq"
    assert jobs.visibility == "5400 >= 5400 (6x900)"
    assert (jobs.archive, jobs.alarm) == (f"ops-console-{stage}-worker", "JobsDeadLetterAlarm")
    assert rows[f"ops-console-{stage}-steps"].consumer == f"ops-console-{stage}: workflows.handlers.step_tasks"
    assert rows[f"ops-console-{stage}-order-notifications"].consumer.startswith("external: customer notification")
    dead_letters = [row for row in rows.values() if row.kind == "dead-letter queue"]
    # Every work queue's (the realtime pushes' and the webhooks' included).
    assert len(dead_letters) == 10
    for row in dead_letters:
        assert row.consumer == f"ops-console-{stage}-worker: ops.handlers.dead_letters_archive", row.queue
        assert row.alarm.endswith("DeadLetterAlarm"), row.queue
    assert {(e.handler, e.function.name) for e in found.schedules} >= {
        ("workflows.handlers.sweep_workflows", f"ops-console-{stage}-worker"),
        ("ops.handlers.refresh", f"ops-console-{stage}-worker"),
    }


def test_the_command_prints_the_table_and_exits_0(capsys):
    assert topology.main(["--stage", "dev"]) == 0

    out = capsys.readouterr().out
    jobs_line = next(line for line in out.splitlines() if line.startswith("ops-console-dev-jobs "))
    assert "ops-console-dev-worker: console.runtime.lambda_jobs.celery_jobs" in jobs_line
    assert "JobsDeadLetterAlarm" in jobs_line
    assert "Celery CELERY_TASK_DEFAULT_QUEUE" in out
    assert "workflows.handlers.sweep_workflows" in out
    assert out.rstrip().endswith("Problems: none")


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_previous_design_fails_the_jobs_queue_has_no_consumer(files, stage, capsys):
    files.zappa = previous_design(files.zappa)

    found = files.problems(stage)

    assert len(found) == 1
    assert found[0].startswith(f"ops-console-{stage}-jobs (JobsQueue in ")
    assert "no consumer" in found[0]
    zappa_path = files.directory / "zappa_settings.json"
    template_path = files.directory / "template.yaml"
    args = ["--stage", stage, "--zappa-settings", str(zappa_path), "--template", str(template_path)]
    assert topology.main(args) == 1
    assert f"- ops-console-{stage}-jobs (JobsQueue in {template_path}): no consumer" in capsys.readouterr().out


def test_a_dead_letter_queue_without_its_alarm(files):
    del files.template["Resources"]["JobsDeadLetterAlarm"]

    (problem,) = files.problems()

    assert problem.startswith("ops-console-dev-jobs-dlq (JobsDeadLetterQueue in ")
    assert "without a depth alarm" in problem


def test_a_dead_letter_queue_without_its_archive_route(files):
    files.zappa["dev-worker"]["events"] = [
        e for e in files.events("dev-worker") if not e.get("event_source", {}).get("arn", "").endswith("-saga-dlq")
    ]

    found = files.problems()

    assert any(p.startswith("ops-console-dev-saga-dlq ") and "no consumer" in p for p in found)
    assert any(p.startswith("ops-console-dev-saga-dlq ") and "without its archive route" in p for p in found)


def test_a_visibility_timeout_below_six_times_the_function_timeout(files):
    files.resource("JobsQueue")["Properties"]["VisibilityTimeout"] = 900

    (problem,) = files.problems()

    assert problem.startswith("ops-console-dev-jobs (JobsQueue in ")
    assert "VisibilityTimeout 900 s is below 6 x ops-console-dev-worker's timeout (900 s) = 5400 s" in problem


def test_a_schedule_of_a_missing_function(files):
    files.events("dev-worker").append({"function": "ops.handlers.no_such_job", "expression": "rate(1 hour)"})

    (problem,) = files.problems()

    assert problem.startswith("ops.handlers.no_such_job (stage dev-worker of ")
    assert "no callable no_such_job" in problem


def test_a_function_scheduled_by_both_functions(files):
    files.events("dev").append({"function": "ops.handlers.refresh", "expression": "rate(1 minute)"})

    (problem,) = files.problems()

    assert problem.startswith("ops.handlers.refresh is scheduled by 2 functions")


def test_two_consumers_on_one_queue(files):
    files.events("dev").append(
        sqs_source("console.runtime.lambda_jobs.celery_jobs", "ops-console-dev-jobs", batch_size=1)
    )

    (problem,) = files.problems()

    assert problem.startswith("ops-console-dev-jobs (JobsQueue in ")
    assert "2 consumers" in problem


def test_a_celery_route_to_a_queue_the_template_lacks(files, settings):
    settings.CELERY_TASK_ROUTES = {"orders.tasks.*": {"queue": "exports"}}

    (problem,) = files.problems()

    assert problem.startswith("Celery CELERY_TASK_ROUTES['orders.tasks.*'] sends to ops-console-dev-exports")


def test_an_external_consumer_must_be_declared(files):
    del files.resource("OrderNotificationsQueue")["Metadata"]

    (problem,) = files.problems()

    assert problem.startswith("ops-console-dev-order-notifications (OrderNotificationsQueue in ")
    assert "no consumer" in problem


def test_event_sources_name_queues_of_their_stage_in_batches_sqs_allows(files):
    files.events("prod").append(sqs_source("workflows.handlers.step_tasks", "ops-console-dev-steps"))
    (saga,) = [
        e for e in files.events("prod") if e.get("event_source", {}).get("arn", "").endswith(":ops-console-prod-saga")
    ]
    saga["event_source"]["batch_size"] = 0

    found = files.problems("prod")

    assert any("ops-console-dev-steps is no queue of" in p for p in found)
    assert any("batch_size 0 for ops-console-prod-saga is outside 1..10" in p for p in found)


def test_a_queue_read_by_step_functions_through_a_pipe(files):
    resources = files.template["Resources"]
    resources["RetriesQueue"] = copy.deepcopy(resources["SagaQueue"])
    resources["RetriesQueue"]["Properties"]["QueueName"] = {"Fn::Sub": "${Prefix}-${Stage}-retries"}
    resources["RetriesPipe"] = {
        "Type": "AWS::Pipes::Pipe",
        "Properties": {
            "RoleArn": {"Fn::GetAtt": ["StatesExecutionRole", "Arn"]},
            "Source": {"Fn::GetAtt": ["RetriesQueue", "Arn"]},
            "Target": {"Ref": "OrderSagaStateMachine"},
        },
    }

    found = files.topology()

    assert topology.problems(found) == []
    (row,) = [row for row in topology.queue_rows(found) if row.queue == "ops-console-dev-retries"]
    assert row.consumer == "Step Functions: OrderSagaStateMachine (pipe RetriesPipe)"


def test_zappa_async_tasks_run_in_a_function_of_the_stage(files, tmp_path):
    package = tmp_path / "src" / "reports"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(
        "from zappa.asynchronous import task\n\n\n"
        '@task(remote_aws_lambda_function_name="ops-console-dev-reports")\n'
        "def build_report(report_id):\n    pass\n"
    )

    found = topology.problems(files.topology(source_root=tmp_path / "src"))

    (problem,) = found
    assert problem.endswith(
        "tasks.py:4: Zappa async task runs in ops-console-dev-reports, which is none of the stage's functions "
        "(ops-console-dev, ops-console-dev-worker)"
    )
