"""The console pages support staff use: the failure inbox, redrive with a dry run, delete
and purge confirmations, redrive jobs, alarms; and the home page's dashboard."""

import json
import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from console.aws.resources import resource_name
from console.models import AuditEntry
from ops.models import Alarm, DeadLetter, RedriveJob
from orders.services import order_create
from tests.conftest import csrf_post, wait_for
from tests.ops.conftest import archived, drain, put_in_dlq

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_the_inbox_groups_searches_and_redrives_with_a_dry_run(stack, support, console_client):
    from console.aws import clients as aws

    dlq = resource_name("approvals-dlq")
    order = order_create(
        user_id="console-customer",
        items=[{"product_id": "p", "name": "P", "quantity": 1, "price": 3}],
        start_workflow=False,
    )
    put_in_dlq(
        dlq,
        [
            json.dumps(
                {"step": "RequestApproval", "orderId": str(order.pk), "taskToken": "t" * 40, "executionArn": "a:b"}
            )
        ],
    )
    put_in_dlq(dlq, [json.dumps({"inbox": n}) for n in range(3)])
    rows = archived(dlq, 4)
    step = next(r for r in rows if r.task == "RequestApproval")
    assert step.order_id == order.pk

    console_client.force_login(support)
    inbox = reverse("admin:ops_deadletter_changelist")
    page = console_client.get(inbox).content.decode()
    assert dlq in page and "Grouped by task and error" in page and "RequestApproval" in page
    found = console_client.get(inbox, {"q": str(order.pk)}).content.decode()
    assert reverse("admin:ops_deadletter_change", args=[step.pk]) in found
    detail = console_client.get(reverse("admin:ops_deadletter_change", args=[step.pk])).content.decode()
    assert "t" * 40 not in detail and "Workflow" in detail and str(order.pk) in detail

    aws.client("sqs").create_queue(QueueName=resource_name("console-target"))
    ids = ",".join(str(r.pk) for r in rows if "inbox" in r.body)
    redrive_url = reverse("admin:ops_deadletter_redrive") + f"?queue={dlq}&ids={ids}"
    preview = console_client.get(redrive_url).content.decode()
    assert re.search(r'class="plan-count">3<', preview)
    # Each sample links to its message; bodies are cut short and wrap, never widen the page.
    for row in (r for r in rows if "inbox" in r.body):
        assert reverse("admin:ops_deadletter_change", args=[row.pk]) in preview
    assert all(len(body) <= 160 for body in re.findall(r'<code class="body-sample">(.*?)</code>', preview, re.S))
    response = csrf_post(
        console_client,
        redrive_url,
        redrive_url,
        {"queue": dlq, "ids": ids, "target": resource_name("console-target"), "parallelism": 1, "start": "1"},
    )
    assert response.status_code == 302
    job = RedriveJob.objects.get()
    assert response["Location"] == reverse("admin:ops_redrivejob_change", args=[job.pk])
    wait_for(lambda: RedriveJob.objects.get(pk=job.pk).status == "succeeded", what="the redrive")
    job_page = console_client.get(response["Location"]).content.decode()
    assert "3 of 3 moved" in job_page
    assert len(drain(resource_name("console-target"))) == 3


def test_delete_and_purge_ask_for_confirmation(stack, support, console_client):
    dlq = resource_name("steps-dlq")
    put_in_dlq(dlq, [json.dumps({"doomed": n}) for n in range(3)])
    rows = [r for r in archived(dlq, 3) if "doomed" in r.body]
    console_client.force_login(support)

    delete_url = reverse("admin:ops_deadletter_delete_messages") + f"?queue={dlq}&ids={rows[0].pk}"
    assert "Yes, delete 1 message(s)" in console_client.get(delete_url).content.decode()
    csrf_post(
        console_client,
        delete_url,
        delete_url,
        {"queue": dlq, "ids": str(rows[0].pk), "confirm": "yes", "reason": "junk"},
    )
    assert DeadLetter.objects.get(pk=rows[0].pk).state == "deleted"

    purge_url = reverse("admin:ops_deadletter_purge") + f"?queue={dlq}"
    wrong = csrf_post(console_client, purge_url, purge_url, {"queue": dlq, "confirm": "steps", "reason": "cleanup"})
    assert wrong.status_code == 400 and "Type the queue" in wrong.content.decode()
    assert DeadLetter.objects.filter(queue_name=dlq, state="present").exists()
    done = csrf_post(console_client, purge_url, purge_url, {"queue": dlq, "confirm": dlq, "reason": "cleanup"})
    assert done.status_code == 302
    assert not DeadLetter.objects.filter(queue_name=dlq, state="present").exists()
    assert AuditEntry.objects.get(action="dlq.purge").actor == support


def test_an_operator_cannot_redrive_or_purge(local_aws, operator, console_client):
    console_client.force_login(operator)
    assert console_client.get(reverse("admin:ops_deadletter_changelist")).status_code == 403
    assert console_client.get(reverse("admin:ops_deadletter_redrive") + "?queue=x").status_code == 403
    assert console_client.get(reverse("admin:ops_deadletter_purge") + "?queue=x").status_code == 403


def test_the_alarm_page_links_to_what_is_behind_it_and_mutes_with_a_reason(local_aws, support, console_client):
    from ops import alarms

    alarms.alarms_sync()
    alarm = Alarm.objects.get(name=resource_name("steps-dlq-depth"))
    console_client.force_login(support)
    page_url = reverse("admin:ops_alarm_change", args=[alarm.pk])
    page = console_client.get(page_url).content.decode()
    assert reverse("admin:ops_deadletter_changelist") + f"?queue_name={resource_name('steps-dlq')}" in page
    act = reverse("admin:ops_alarm_act", args=[alarm.pk])
    csrf_post(console_client, page_url, act, {"action": "mute", "minutes": "60", "reason": "maintenance"})
    alarm.refresh_from_db()
    assert alarm.mute_reason == "maintenance" and alarm.muted_until > timezone.now() + timedelta(minutes=59)
    listing = console_client.get(reverse("admin:ops_alarm_changelist") + "?state__exact=OK").content.decode()
    assert f'<span title="{alarm.name}">steps-dlq-depth</span>' in listing  # the stage's prefix left out


def test_the_home_page_shows_each_panel_linking_to_its_page(
    local_aws, support, operator, console_client, django_assert_max_num_queries
):
    from workflows.models import Approval, Execution

    order = order_create(
        user_id="dash", items=[{"product_id": "p", "name": "P", "quantity": 1, "price": 3}], start_workflow=False
    )
    execution = Execution.objects.create(order=order, name="order-dash", state_machine="x", status="FAILED")
    Approval.objects.create(
        order=order, execution=execution, state_name="RequestApproval", task_token="t", token_sha256="s"
    )
    DeadLetter.objects.create(
        queue_name=resource_name("jobs-dlq"), message_id="m", body="{}", body_sha256="b", fingerprint="f"
    )
    # The stack's minute schedule (in another test's consumer) may have synced the stage's
    # alarms into the database already: this one is set to ALARM whatever it found.
    alarm, _ = Alarm.objects.update_or_create(
        name=resource_name("lambda-errors"), defaults={"state": "ALARM", "state_changed_at": timezone.now()}
    )

    console_client.force_login(support)
    with django_assert_max_num_queries(20):  # panels read the database only (charts: GetMetricData, cached)
        page = console_client.get(reverse("admin:index")).content.decode()
    for panel in ("panel-approvals", "panel-dead-letters", "panel-alarms", "panel-failed-executions"):
        assert f'id="{panel}"' in page, panel
    assert f"{reverse('admin:ops_deadletter_changelist')}?queue_name={resource_name('jobs-dlq')}" in page
    assert reverse("admin:ops_alarm_change", args=[alarm.pk]) in page
    assert reverse("admin:workflows_approval_changelist") in page
    assert reverse("admin:workflows_execution_changelist") + "?status__exact=FAILED" in page

    # Panels follow permissions: an operator sees approvals, not dead letters or alarms.
    console_client.force_login(operator)
    page = console_client.get(reverse("admin:index")).content.decode()
    assert 'id="panel-approvals"' in page and 'id="panel-dead-letters"' not in page and 'id="panel-alarms"' not in page
