"""What the ops services raise when a request cannot be done as asked: ``OpsError`` for one
support staff can fix (a bad target, nothing selected, a wrong confirmation), and
``AwsRefused`` for one AWS turned down for a reason of the queue's own. The pages and the
API answer both (400 or 409) instead of failing."""


class OpsError(Exception):
    """A request support staff can fix (bad target, nothing selected, wrong confirmation)."""

    def __init__(self, message: str, field: str = "_"):
        self.field = field
        super().__init__(message)


class AwsRefused(OpsError):
    """AWS refused an operator's request for a reason of the queue's own (a move task
    already running or already ended, a source AWS does not serve): the request cannot be
    done now, as asked. ``code`` is AWS's error code, ``request_id`` its request id."""

    def __init__(self, message: str, field: str, *, code: str, request_id: str = ""):
        self.code = code
        self.request_id = request_id
        super().__init__(message, field)
