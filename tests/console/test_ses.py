"""Mail through SES's API (console.aws.ses) against the local AWS: an approval email sent by
the real backend, read back from what the moto server's SES accepted, its links working as
they do from any mail (on the stack too, where the approval function sends it and its link
decides the order); and the stage's identity being the only one it may send as."""

import re
from email.utils import parseaddr
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError
from django.core import mail
from django.urls import reverse

from console.aws import clients as aws
from console.aws.ses import EmailBackend
from infra.deploy import LOCAL_MAIL_FROM_ADDRESS, mail_domain
from tests.conftest import csrf_post, wait_for
from tests.mail_sent import sent_mail
from tests.workflows.conftest import make_pending_approval
from tests.workflows.test_journeys import WIDGETS, create_order, pending_approval, wait_until_finished
from workflows.approvals.notifications import approval_notify
from workflows.models import Approval

pytestmark = pytest.mark.django_db
SES_BACKEND = "console.aws.ses.EmailBackend"


@pytest.fixture
def through_ses(settings, local_aws):
    """The settings the stage runs with: SES's backend, at the local AWS."""
    settings.MAILERS = {"default": {"BACKEND": SES_BACKEND}}
    settings.CONSOLE_BASE_URL = "https://console.example.com"
    return local_aws


def test_the_settings_send_mail_through_ses_by_default():
    from console.settings import base

    assert base.MAILERS == {"default": {"BACKEND": SES_BACKEND}}
    # The local deploy's identity is the one the settings send from.
    assert parseaddr(base.DEFAULT_FROM_EMAIL)[1] == LOCAL_MAIL_FROM_ADDRESS


def test_the_local_deploy_verifies_the_stage_identity(local_aws, settings):
    identity = aws.client("sesv2").get_email_identity(EmailIdentity=mail_domain(settings.DEFAULT_FROM_EMAIL))
    assert identity["IdentityType"] == "DOMAIN" and identity["VerifiedForSendingStatus"] is not None


def test_an_approval_email_goes_through_ses_with_links_that_work(through_ses, operator, client):
    operator.email = "olivia.ses@example.com"
    operator.save()
    token = "AAAAKgAAAAIAAAAAAAAAAViaSesTaskToken=="
    approval = make_pending_approval(token)

    assert approval_notify(approval_id=approval.pk) == 1

    assert mail.outbox == []  # not the test settings' in-memory outbox: SES took it
    [sent] = sent_mail(through_ses.endpoint, to="olivia.ses@example.com")
    assert sent.source == "ops-console@localhost"
    assert sent.message["Subject"].startswith(f"Approval needed: order {str(approval.order_id)[:8]}")
    # Bcc recipients are SES's destinations, never a header of the message.
    assert "Bcc" not in sent.message and "olivia.ses@example.com" not in sent.message.as_string()
    text, html = sent.part("text/plain"), sent.part("text/html")
    assert token not in text + html and approval.token_sha256 not in text + html
    approve, reject = (
        re.search(rf"{word}: +https://console\.example\.com(\S+)", text)[1] for word in ("Approve", "Reject")
    )
    assert approve != reject and approve in html and reject in html

    # A link from the mail SES sent opens the confirmation page and decides nothing.
    client.force_login(operator)
    page = client.get(approve)
    assert page.status_code == 200 and "Nothing has been decided yet" in page.content.decode()
    assert Approval.objects.get(pk=approval.pk).status == Approval.Status.PENDING
    assert reverse("admin:workflows_approval_changelist") in text


def test_ses_refuses_a_sender_outside_the_stage_identity(through_ses, settings):
    settings.DEFAULT_FROM_EMAIL = "ops-console@unverified.example.com"

    with pytest.raises(ClientError) as refused:
        mail.send_mail(subject="s", message="m", from_email=None, recipient_list=["x@example.com"])

    assert refused.value.response["Error"]["Code"] == "MessageRejected"
    assert sent_mail(through_ses.endpoint, to="x@example.com") == []


def test_the_backend_sends_on_the_shared_client_and_asks_ses_nothing_more(through_ses):
    first, second = EmailBackend(), EmailBackend()

    assert first.open() is True and first.open() is False and second.open() is True
    # Built once per process (timeouts, retries, the endpoint), reused on warm invocations.
    assert first.connection is second.connection is aws.client("sesv2")
    # No throttling of its own: that would ask SES for the account's rate (GetAccount) first.
    assert first._throttle is None


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_on_the_stack_the_approval_function_mails_through_ses_and_the_link_decides(
    stack, live_server, api_token, operator, console_client
):
    operator.email = "olivia.stack@example.com"
    operator.save()
    order_id = create_order(live_server, api_token, WIDGETS)
    approval = pending_approval(order_id)

    [sent] = wait_for(
        lambda: sent_mail(stack.endpoint, to="olivia.stack@example.com"), what="the approval mail in the local SES"
    )
    assert sent.source == "ops-console@localhost" and order_id[:8] in sent.message["Subject"]
    approve = urlsplit(re.search(r"Approve: +(\S+)", sent.part("text/plain"))[1]).path

    console_client.force_login(operator)
    response = csrf_post(console_client, approve, approve, {"note": "from the mail"})

    assert response.status_code == 302
    wait_for(
        lambda: Approval.objects.get(pk=approval.pk).status == Approval.Status.APPROVED, what="the approval decided"
    )
    assert wait_until_finished(order_id, timeout=60) == "SUCCEEDED"
