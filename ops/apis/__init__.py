"""REST endpoints of ``ops`` (permission-checked, in the schema), one module per concept.

``dead_letters``:
GET  /api/dlqs                          the stage's DLQs with depth
GET  /api/dlqs/{name}/messages          archived messages, decoded (filters, cursor pages)
GET  /api/dlqs/{name}/groups            waiting messages grouped by task and error
POST /api/dlqs/{name}/delete            delete selected waiting messages
POST /api/dlqs/{name}/purge             delete every waiting message (confirm with the name)

``redrives``:
POST /api/dlqs/{name}/redrive           dry run (200) or a background job (202, poll it)
GET  /api/redrives/{id}                 a redrive job's progress
POST /api/redrives/{id}/cancel|resume

``queues``:
GET  /api/queues                        every queue of the stage: depth, consumer, DLQ
POST /api/queues/{name}/pause|resume    its consumer's event source mapping off or on (a reason)

``alarms``:
GET  /api/alarms                        ?state=ALARM; ?refresh=true asks CloudWatch first
GET  /api/alarms/{name}/history         recorded state changes; ?fill=true adds CloudWatch's
POST /api/alarms/{name}/mute|unmute|acknowledge|assign

``failed_jobs``:
GET  /api/failed-jobs                   failed Celery jobs (?status, ?task, ?order, ?text: e.g. an order id)
GET  /api/failed-jobs/{id}              one, with arguments and traceback
POST /api/failed-jobs/{id}/retry|discard
POST /api/failed-jobs/retry|discard     in bulk: ids, or every job matching a filter
"""
