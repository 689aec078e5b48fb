"""Amazon SES: outgoing mail through the SESv2 SendEmail API, as the function's role.

``EmailBackend`` is django-ses's backend (each message sent whole, as raw MIME, with SESv2
SendEmail) on the shared ``sesv2`` client of ``console.aws.clients``: the configured
endpoint (the local moto server in development and in the stack tests), explicit timeouts
and standard retries, built with the first mail and reused on warm invocations. It holds no
credential: on Lambda the function's role may ``ses:SendEmail`` as the stage's identity
only, from ``DEFAULT_FROM_EMAIL`` only (infra/template.yaml, FunctionMailPolicy).

Failures raise (botocore's ``ClientError``: an unverified sender is ``MessageRejected``, a
missing permission ``AccessDeniedException``); callers decide whether a lost mail matters.
"""

from typing import Any

from django_ses import SESBackend

from console.aws import clients


class EmailBackend(SESBackend):
    def __init__(self, **options: Any):
        super().__init__(use_ses_v2=True, **options)
        # django-ses's own throttling asks SES for the account's send rate (GetAccount) on
        # the first mail of each process: one more call and one more permission. botocore's
        # standard retries back off on SES's throttling answers instead.
        self._throttle = None

    def open(self) -> bool:
        if self.connection is not None:
            return False
        self.connection = clients.client("sesv2")
        return True

    def close(self) -> None:
        # The client is shared and outlives the connection: nothing to close.
        self.connection = None
