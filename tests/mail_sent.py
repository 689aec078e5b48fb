"""The mail the local AWS's SES accepted, read from the moto server process.

The local AWS (console/devtools/localaws.py) lists what SES's SendEmail accepted at
``GET /moto-api/ses/sent-messages`` (sender, every recipient, the raw MIME message): what
the stage sent, read over HTTP as another process would, never from moto's objects in
this process.
"""

import email
import email.policy
from dataclasses import dataclass
from email.message import EmailMessage

import requests

from console.devtools.localaws import SENT_MAIL_PATH


@dataclass(frozen=True)
class SentMail:
    message_id: str  # SES's MessageId
    source: str  # FromEmailAddress of the call
    destinations: list[str]  # To, Cc and Bcc: every address SES delivers to
    message: EmailMessage  # the MIME message as sent

    def part(self, content_type: str) -> str:
        """The text of the message's ``content_type`` part (``text/plain``, ``text/html``)."""
        found = self.message.get_body(preferencelist=(content_type.split("/")[1],))
        assert found is not None and found.get_content_type() == content_type, f"no {content_type} part"
        return found.get_content()


def sent_mail(endpoint: str, *, to: str | None = None) -> list[SentMail]:
    """Every raw message the local AWS's SES accepted, oldest first (those delivered to
    ``to`` only, when given)."""
    response = requests.get(endpoint + SENT_MAIL_PATH, timeout=10)
    response.raise_for_status()
    found = [
        SentMail(
            message_id=raw["id"],
            source=raw["source"],
            destinations=raw["destinations"],
            message=email.message_from_string(raw["raw_data"], policy=email.policy.default),
        )
        for raw in response.json()
    ]
    return [mail for mail in found if to is None or to in mail.destinations]
