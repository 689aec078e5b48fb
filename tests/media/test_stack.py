"""On the local stack: the files bucket notifies the files-events queue (applied from the
template by infra/deploy.py), and the queue consumer runs the handler, which processes a
presigned upload. (Order CSVs it hands to imports: ``tests/orders/imports/test_stack.py``.)"""

import pytest
import requests
from django.urls import reverse

from console.aws import clients as aws
from console.aws import resources
from media.models import MediaAsset
from tests.conftest import wait_for
from tests.media.test_handlers import png_bytes

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_the_bucket_notifies_the_files_events_queue(stack):
    bucket = resources.files_bucket()
    configuration = aws.client("s3").get_bucket_notification_configuration(Bucket=bucket)
    prefixes = {
        rule["Value"]
        for target in configuration["QueueConfigurations"]
        for rule in target["Filter"]["Key"]["FilterRules"]
    }
    assert prefixes == {"media/", "incoming/orders/"}
    queues = {target["QueueArn"] for target in configuration["QueueConfigurations"]}
    assert queues == {"arn:aws:sqs:us-east-1:123456789012:ops-console-dev-files-events"}


def test_a_presigned_upload_is_processed_when_s3_reports_it(stack, live_server, api_token):
    body = png_bytes((512, 512))
    response = requests.post(
        f"{live_server.url}{reverse('upload-create')}",
        json={"purpose": "media", "filename": "label.png", "contentType": "image/png", "size": len(body)},
        headers={"Authorization": f"Bearer {api_token}"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    ticket = response.json()
    upload = requests.post(ticket["url"], data=ticket["fields"], files={"file": ("label.png", body)}, timeout=10)
    assert upload.status_code == 204

    asset = wait_for(
        lambda: (a := MediaAsset.objects.get(pk=ticket["assetId"])).status == MediaAsset.Status.READY and a,
        timeout=60,
        what="the upload to be processed",
    )
    assert asset.thumbnail.name.endswith("label.thumb.jpg") and asset.size == len(body)
