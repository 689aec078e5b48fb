"""Console pages for support staff, one module per concept:

* ``dead_letters``: the failure inbox (every DLQ's archived messages, grouped and
  searchable), with its pages: redrive with a dry run, AWS's move task, "Archive now",
  delete and purge with confirmation;
* ``redrives``: redrive jobs with progress, cancel and resume;
* ``alarms``: alarms with their history, who they notify, mute, acknowledge and assign;
* ``queues``: every queue of the stage with its depth, consumer and DLQ; pause and resume
  a queue's consumer.
* ``costs``: what the stage costs this month, so far and projected, per area, with the
  levers that would pay (admins only).
* ``failed_jobs``: Celery tasks that failed for good, searchable by argument, with retry
  and discard one at a time or in bulk.

Django's admin autodiscovery imports this package; importing it registers the pages.
"""

from ops.admin import alarms, costs, dead_letters, failed_jobs, queues, redrives  # noqa: F401  (registers the pages)
