"""Follow-up jobs of media and import services: queued after the commit, or, while an
import runs in-process (tests, benchmarks, ``manage.py import_csv --inline``), not at all."""

import contextlib
import contextvars
import logging
from typing import Any

from django.db import transaction

logger = logging.getLogger(__name__)

# Set while an import runs in-process (tests, benchmarks, the management command): the
# runner drives the chunks itself, so nothing is queued.
_inline = contextvars.ContextVar("media_inline_import", default=False)


@contextlib.contextmanager
def inline_jobs():
    token = _inline.set(True)
    try:
        yield
    finally:
        _inline.reset(token)


def after_commit(task_name: str, *args: Any, countdown: float | None = None) -> None:
    if _inline.get():
        return

    def send() -> None:
        from media import tasks

        task = getattr(tasks, task_name)
        try:
            task.apply_async(args=args, countdown=countdown)
        except Exception:
            # The import stays resumable: the scheduled sweep queues stalled work again.
            logger.exception("could not queue %s%s; the stalled-import sweep will retry", task_name, args)

    transaction.on_commit(send)
