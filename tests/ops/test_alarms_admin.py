"""The alarm page's forms (ops/admin/alarms.py, its template): every control has a label."""

import re

import pytest
from django.urls import reverse

from console.aws.resources import resource_name
from ops.models import Alarm

pytestmark = pytest.mark.django_db


def test_the_mute_reason_note_and_owner_controls_have_labels(local_aws, support, console_client):
    from ops import alarms

    alarms.alarms_sync()
    alarm = Alarm.objects.get(name=resource_name("steps-dlq-depth"))
    Alarm.objects.filter(pk=alarm.pk).update(state="ALARM")  # so the acknowledge form shows too
    console_client.force_login(support)
    page = console_client.get(reverse("admin:ops_alarm_change", args=[alarm.pk])).content.decode()

    actions = page[page.index('id="alarm-actions"') : page.index('id="alarm-history"')]
    controls = [tag for tag in re.findall(r"<(?:input|select|textarea)\b[^>]*>", actions) if 'type="hidden"' not in tag]
    names = {re.search(r'name="([^"]+)"', tag).group(1) for tag in controls}
    assert names == {"minutes", "reason", "note", "owner"}
    for tag in controls:
        control_id = re.search(r'id="([^"]+)"', tag)
        assert control_id, f"no id on {tag}"
        assert f'<label for="{control_id.group(1)}">' in actions, f"no label for {tag}"
