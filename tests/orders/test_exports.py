"""The order list exported to a file where a response cannot carry it (Lambda behind API
Gateway): the POST, the job writing to the local S3, the emailed link and who may use it."""

import csv
import io
import re
import urllib.request
from unittest import mock

import pytest
from django.urls import reverse

from console.aws import clients as aws
from console.aws import resources
from console.models import AuditEntry
from console.platform import roles
from orders import exports
from orders.lifecycle import OrderStatus
from tests.conftest import csrf_post, make_user, wait_for
from tests.factories import OrderFactory
from tests.mail_sent import sent_mail

pytestmark = pytest.mark.django_db

EXPORT = "admin:orders_order_export"
CHANGELIST = "admin:orders_order_changelist"


@pytest.fixture
def to_file(settings, local_aws) -> str:
    settings.ORDER_EXPORT_TO_FILE = True
    settings.CONSOLE_BASE_URL = "https://console.example.com"
    return resources.files_bucket()


@pytest.fixture
def logged_in(console_client, operator):
    operator.email = "olivia@example.com"
    operator.save()
    console_client.force_login(operator)
    return console_client


def request_export(client, filters: str, capture) -> tuple[object, AuditEntry]:
    changelist = reverse(CHANGELIST) + (f"?{filters}" if filters else "")
    with capture() as callbacks:
        response = csrf_post(client, changelist, reverse(EXPORT), {"filters": filters})
    assert response.status_code == 302 and response.url == changelist
    assert len(callbacks) == 1  # the job, queued once the export is committed
    return response, AuditEntry.objects.filter(action="order.export").latest("created_at")


def emailed_link(mailoutbox) -> str:
    [message] = mailoutbox
    found = re.search(r"https://console\.example\.com(/\S+)", message.body)
    assert found, message.body
    return found.group(1)


def test_the_filtered_list_is_written_to_a_file_and_its_link_emailed(
    to_file, logged_in, operator, django_capture_on_commit_callbacks, mailoutbox
):
    wanted = [OrderFactory(status=OrderStatus.FAILED) for _ in range(5)]
    attack = OrderFactory(status=OrderStatus.FAILED, user_id="=cmd|' /C calc'!A0")
    OrderFactory(status=OrderStatus.CREATED)
    # A state change: a GET does nothing.
    assert logged_in.get(reverse(EXPORT), {"status__exact": "FAILED"}).status_code == 405

    _, entry = request_export(logged_in, "status__exact=FAILED", django_capture_on_commit_callbacks)
    assert entry.actor == operator and entry.after["filters"] == "status__exact=FAILED"
    key = entry.after["key"]
    assert key.startswith(exports.EXPORT_PREFIX) and key.endswith(".csv")

    assert exports.export_to_file(user_id=operator.pk, filters=entry.after["filters"], key=key) == 6

    stored = aws.client("s3").get_object(Bucket=to_file, Key=key)
    assert stored["ContentType"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(stored["Body"].read().decode("utf-8-sig"))))
    assert rows[0] == exports.EXPORT_COLUMNS
    assert {row[0] for row in rows[1:]} == {str(o.pk) for o in [*wanted, attack]}
    assert [row[1] for row in rows[1:] if row[0] == str(attack.pk)] == ["'=cmd|' /C calc'!A0"]
    written = AuditEntry.objects.get(action="order.export.written")
    assert written.after["rows"] == 6 and written.after["key"] == key

    # The email links to the console, never to S3 or the key.
    assert mailoutbox[0].to == ["olivia@example.com"] and "6 orders" in mailoutbox[0].subject
    link = emailed_link(mailoutbox)
    assert key not in mailoutbox[0].body and "X-Amz" not in mailoutbox[0].body
    response = logged_in.get(link)
    assert response.status_code == 302 and "X-Amz-Signature" in response.url
    with urllib.request.urlopen(response.url) as download:
        assert download.read() == aws.client("s3").get_object(Bucket=to_file, Key=key)["Body"].read()
    assert AuditEntry.objects.filter(action="order.export.download", actor=operator).count() == 1


def test_the_link_is_for_its_operator_only_and_expires(
    to_file, logged_in, operator, second_operator, settings, django_capture_on_commit_callbacks, mailoutbox
):
    OrderFactory()
    _, entry = request_export(logged_in, "", django_capture_on_commit_callbacks)
    exports.export_to_file(user_id=operator.pk, filters="", key=entry.after["key"])
    link = emailed_link(mailoutbox)

    from django.test import Client

    colleague = Client()
    colleague.force_login(second_operator)
    assert colleague.get(link).status_code == 403
    assert logged_in.get(link.replace("/download/", "/download/x")).status_code == 403

    settings.ORDER_EXPORT_LINK_MAX_AGE = -1
    response = logged_in.get(link, follow=True)
    assert "This export link has expired" in response.content.decode()


def test_a_list_larger_than_a_part_goes_up_in_parts_and_a_failure_leaves_no_upload(to_file, operator):
    # Two orders of 3 MB reasons each: two parts of at least S3's 5 MiB minimum.
    for _ in range(3):
        OrderFactory(status_reason="x" * 3_000_000)
    s3 = aws.client("s3")
    key = f"{exports.EXPORT_PREFIX}tests/large.csv"
    with mock.patch.object(exports, "PART_BYTES", 5 * 1024 * 1024):
        assert exports.export_to_file(user_id=operator.pk, filters="", key=key) == 3
        stored = s3.head_object(Bucket=to_file, Key=key)
        assert stored["ContentLength"] > 9_000_000 and "-2" in stored["ETag"]  # a two-part upload

        failing = f"{exports.EXPORT_PREFIX}tests/failing.csv"

        real_lines = exports.csv_lines
        sent = []

        def lines_then_failure(queryset):
            yield from real_lines(queryset)
            sent.append(len(s3.list_multipart_uploads(Bucket=to_file, Prefix=failing).get("Uploads", [])))
            raise ConnectionError("the database went away")

        with mock.patch.object(exports, "csv_lines", lines_then_failure), pytest.raises(ConnectionError):
            exports.export_to_file(user_id=operator.pk, filters="", key=failing)
    assert sent == [1]  # a part had gone up before the failure
    pending = s3.list_multipart_uploads(Bucket=to_file, Prefix=failing).get("Uploads", [])
    assert pending == []
    assert "Contents" not in s3.list_objects_v2(Bucket=to_file, Prefix=failing)


def test_bad_filters_and_users_without_the_permission_export_nothing(
    to_file, logged_in, operator, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = csrf_post(logged_in, reverse(CHANGELIST), reverse(EXPORT), {"filters": "no_such_field=1"})
    assert response.status_code == 302 and not callbacks
    assert not AuditEntry.objects.filter(action="order.export").exists()

    from django.test import Client

    nobody = Client()
    nobody.force_login(make_user("nadia-no-role", None))
    assert nobody.post(reverse(EXPORT), {"filters": ""}).status_code == 403

    # An operator who lost the role between the click and the job gets nothing written.
    operator.groups.clear()
    key = f"{exports.EXPORT_PREFIX}tests/refused.csv"
    with pytest.raises(exports.ExportRefused):
        exports.export_to_file(user_id=operator.pk, filters="", key=key)
    assert "Contents" not in aws.client("s3").list_objects_v2(Bucket=to_file, Prefix=key)


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_the_real_worker_writes_the_export_and_emails_its_link(stack, settings, console_client):
    settings.ORDER_EXPORT_TO_FILE = True
    operator = make_user("erin-exporter", roles.OPERATOR)
    operator.email = "erin@example.com"
    operator.save()
    orders = [OrderFactory(status=OrderStatus.FAILED) for _ in range(3)]
    console_client.force_login(operator)
    changelist = reverse(CHANGELIST) + "?status__exact=FAILED"

    response = csrf_post(console_client, changelist, reverse(EXPORT), {"filters": "status__exact=FAILED"})

    assert response.status_code == 302
    key = AuditEntry.objects.get(action="order.export").after["key"]
    written = wait_for(
        lambda: AuditEntry.objects.filter(action="order.export.written").first(), timeout=60, what="the export job"
    )
    assert written.after == {"filters": "status__exact=FAILED", "key": key, "rows": 3, "bytes": written.after["bytes"]}
    body = aws.client("s3").get_object(Bucket=resources.files_bucket(), Key=key)["Body"].read().decode("utf-8-sig")
    assert {row[0] for row in list(csv.reader(io.StringIO(body)))[1:]} == {str(o.pk) for o in orders}
    # The worker function mails the link through SES (the local AWS's), as on Lambda.
    [mail] = wait_for(lambda: sent_mail(stack.endpoint, to="erin@example.com"), timeout=10, what="the mail in SES")
    assert mail.message["Subject"].startswith("Your order export is ready: 3 orders")
    assert mail.source == settings.DEFAULT_FROM_EMAIL and key not in mail.part("text/plain")


def test_the_files_bucket_expires_exports_after_their_links_and_drops_failed_parts(to_file, settings):
    rules = aws.client("s3").get_bucket_lifecycle_configuration(Bucket=to_file)["Rules"]
    [rule] = [r for r in rules if (r.get("Filter", {}).get("Prefix") or r.get("Prefix")) == exports.EXPORT_PREFIX[:8]]
    assert rule["Status"] == "Enabled"
    assert rule["Expiration"]["Days"] * 86400 > settings.ORDER_EXPORT_LINK_MAX_AGE
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
