"""The failure inbox's console page (ops/admin/dead_letters.py): a selection across queues
redriven as one job per queue, search in message bodies, SQS timestamps as dates. Archive
rows are written here directly; the queues are the stage's, on the local AWS."""

import re

import pytest
from django.urls import reverse

from console.aws.resources import resource_name
from console.models import AuditEntry
from ops.models import DeadLetter, RedriveJob
from tests.conftest import csrf_post

pytestmark = pytest.mark.django_db

INBOX = "/ops/deadletter/"


def dead_letter(queue: str, body: str, *, source: str = "", **fields) -> DeadLetter:
    return DeadLetter.objects.create(
        queue_name=queue,
        message_id=f"m-{DeadLetter.objects.count()}-{body[:20]}",
        body=body,
        body_sha256=str(hash(body)),
        fingerprint="f",
        source_queue=source,
        **fields,
    )


@pytest.fixture
def two_queues(local_aws):
    steps, approvals = resource_name("steps-dlq"), resource_name("approvals-dlq")
    return {
        steps: [dead_letter(steps, f'{{"s": {n}}}', source=resource_name("steps")) for n in range(2)],
        approvals: [dead_letter(approvals, '{"a": 1}', source=resource_name("approvals"))],
    }


def select_and_redrive(client, ids: list[int]):
    return csrf_post(
        client,
        INBOX,
        INBOX,
        {"action": "redrive_selected", "_selected_action": [str(pk) for pk in ids], "index": "0"},
    )


def test_a_selection_of_two_queues_is_split_into_one_redrive_per_queue(console_client, support, two_queues):
    console_client.force_login(support)
    ids = [m.pk for messages in two_queues.values() for m in messages]

    response = select_and_redrive(console_client, ids)
    assert response.status_code == 302 and "queue=" not in response["Location"]  # not discarded
    page = console_client.get(response["Location"])
    text = page.content.decode()
    assert page.status_code == 200 and "in 2 queues" in text and "Start 2 redrives" in text
    counts = dict(re.findall(r'data-queue="([^"]+)">.*?class="num plan-count">(\d+)<', text, re.S))
    assert counts == {resource_name("approvals-dlq"): "1", resource_name("steps-dlq"): "2"}

    started = csrf_post(
        console_client,
        response["Location"],
        response["Location"],
        {"ids": ",".join(map(str, ids)), "parallelism": "1", "reason": "both fixed", "start": "1"},
    )
    assert started.status_code == 302 and started["Location"] == reverse("admin:ops_redrivejob_changelist")
    jobs = {job.queue_name: job for job in RedriveJob.objects.all()}
    assert {name: job.total for name, job in jobs.items()} == {name: len(m) for name, m in two_queues.items()}
    assert all(job.mode == RedriveJob.Mode.SELECTED and job.reason == "both fixed" for job in jobs.values())
    audited = AuditEntry.objects.filter(action="dlq.redrive")
    assert sorted(e.after["queue"] for e in audited) == sorted(two_queues)
    assert {e.actor_name for e in audited} == {support.username}
    for name, messages in two_queues.items():
        assert set(DeadLetter.objects.filter(redrive_job=jobs[name]).values_list("pk", flat=True)) == {
            m.pk for m in messages
        }


def test_a_split_redrive_starts_nothing_when_one_queue_cannot_go(console_client, support, two_queues):
    console_client.force_login(support)
    stray = dead_letter("ops-console-test-unknown-dlq", '{"x": 1}')  # no source queue known
    ids = [m.pk for messages in two_queues.values() for m in messages] + [stray.pk]
    url = reverse("admin:ops_deadletter_redrive") + "?ids=" + ",".join(map(str, ids))

    assert "in 3 queues" in console_client.get(url).content.decode()
    refused = csrf_post(console_client, url, url, {"ids": ",".join(map(str, ids)), "parallelism": "1", "start": "1"})
    assert refused.status_code == 400
    assert "Nothing was started" in refused.content.decode() and "no known source queue" in refused.content.decode()
    assert not RedriveJob.objects.exists() and not AuditEntry.objects.filter(action="dlq.redrive").exists()
    assert not DeadLetter.objects.exclude(redrive_job=None).exists()


def test_a_split_redrive_needs_the_redrive_permission(console_client, operator, two_queues):
    console_client.force_login(operator)
    ids = ",".join(str(m.pk) for messages in two_queues.values() for m in messages)
    assert console_client.get(reverse("admin:ops_deadletter_redrive") + f"?ids={ids}").status_code == 403


def test_search_looks_in_message_bodies(console_client, support, local_aws):
    queue = resource_name("jobs-dlq")
    wanted = dead_letter(queue, '{"invoice": "INV-2024-0042", "customer": "ACME"}')
    other = dead_letter(queue, '{"invoice": "INV-2024-0043"}')
    console_client.force_login(support)

    found = console_client.get(INBOX, {"q": "inv-2024-0042"}).content.decode()  # any case
    assert reverse("admin:ops_deadletter_change", args=[wanted.pk]) in found
    assert reverse("admin:ops_deadletter_change", args=[other.pk]) not in found
    assert "text in the message body" in found


def test_sqs_timestamps_read_as_utc_dates_to_the_second(console_client, support, local_aws):
    message = dead_letter(
        resource_name("jobs-dlq"),
        "{}",
        attributes={
            "SentTimestamp": "1714564800123",
            "ApproximateFirstReceiveTimestamp": "1714564805000",
            "ApproximateReceiveCount": "3",
        },
    )
    console_client.force_login(support)
    page = console_client.get(reverse("admin:ops_deadletter_change", args=[message.pk])).content.decode()

    assert re.search(
        r'data-name="SentTimestamp" title="1714564800123 \(epoch milliseconds\)">2024-05-01 12:00:00 UTC<', page
    )
    assert 'data-name="ApproximateFirstReceiveTimestamp"' in page and "2024-05-01 12:00:05 UTC" in page
    assert 'data-name="ApproximateReceiveCount">3<' in page
    assert ">1714564800123<" not in page  # the epoch number is the hover, not the value


def test_sqs_attribute_rows_leave_what_is_not_a_timestamp_alone():
    from ops.decoding import sqs_attribute_rows

    assert sqs_attribute_rows({"SentTimestamp": "soon", "MessageGroupId": "g-1"}) == [
        ("MessageGroupId", "g-1", "g-1"),
        ("SentTimestamp", "soon", "soon"),
    ]
    assert sqs_attribute_rows({}) == []
