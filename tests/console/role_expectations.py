"""Who may use what: the one table of every endpoint and console action, per role.

``tests/console/test_roles.py`` walks every URL pattern of the project and every admin
action with every role and checks the outcome written here. A URL pattern or an admin
action without a row here fails that test: whoever adds an endpoint adds its row.

Rows are keyed by URL name (``namespace:name``), or ``admin:<route>`` for admin patterns
without a name. A row is a list of ``Case``: the HTTP method, the expected outcome per
role, and how to fill the URL (``kwargs``), the query string and the body from the sample
objects (``objects`` fixture in test_roles.py: order, completed_order, approval,
execution, stock, audit, user, group, token, attempt).

Roles: anonymous, the three staff roles, a superuser, and two API clients: the sample
orders, imports and media assets belong to the first (``api-client``); the second
(``other-client``) holds the same role and must find them missing.

Outcomes: OK (2xx, or a redirect that is not to the login page), LOGIN (redirect to the
console login), FORBIDDEN (403), UNAUTHORIZED (401), MISSING (404).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from console.platform import roles

ANONYMOUS = "anonymous"
OPERATOR = roles.OPERATOR
SUPPORT = roles.SUPPORT
ADMIN = roles.ADMIN
API_CLIENT = roles.API_CLIENT
OTHER_CLIENT = "other-client"  # a second API client: the samples are not its own
SUPERUSER = "superuser"
STAFF = (OPERATOR, SUPPORT, ADMIN)
ROLES = (ANONYMOUS, OPERATOR, SUPPORT, ADMIN, SUPERUSER, API_CLIENT, OTHER_CLIENT)

OK, LOGIN, FORBIDDEN, UNAUTHORIZED, MISSING = "ok", "login", "forbidden", "unauthorized", "missing"


@dataclass(frozen=True)
class Case:
    expect: dict[str, str]
    method: str = "GET"
    kwargs: Callable[[object], dict] = lambda o: {}
    query: Callable[[object], dict] = lambda o: {}
    data: Callable[[object], dict] = lambda o: {}
    note: str = ""
    json: bool = field(default=False)


def console(*allowed: str, denied: str = FORBIDDEN) -> dict[str, str]:
    """A console page: ``allowed`` staff roles get it, other staff ``denied``; a superuser
    gets what any role may, and ``denied`` where none may; without a console session
    (anonymous, API clients with a token) it sends to the login page."""
    return {
        ANONYMOUS: LOGIN,
        API_CLIENT: LOGIN,
        OTHER_CLIENT: LOGIN,
        SUPERUSER: OK if allowed else denied,
        **{role: OK if role in allowed else denied for role in STAFF},
    }


def api(*allowed: str) -> dict[str, str]:
    """A REST endpoint: ``allowed`` roles get it (staff through their session, API clients
    with their token); others are refused; no credentials is a 401. Both API clients get
    the same (use ``owned`` for the first client's objects)."""
    expect = {ANONYMOUS: UNAUTHORIZED, **{role: OK if role in allowed else FORBIDDEN for role in (*STAFF, API_CLIENT)}}
    return {**expect, OTHER_CLIENT: expect[API_CLIENT], SUPERUSER: OK if allowed else FORBIDDEN}


def owned(expect: dict[str, str]) -> dict[str, str]:
    """An endpoint on one of the first API client's objects: the other client finds it missing."""
    return expect | {OTHER_CLIENT: MISSING}


def everyone(outcome: str) -> dict[str, str]:
    return dict.fromkeys(ROLES, outcome)


def obj(name: str, key: str = "object_id") -> Callable[[object], dict]:
    return lambda o: {key: getattr(o, name).pk}


SEE_ORDERS = STAFF
REASON = lambda o: {"reason": "maintenance"}  # noqa: E731


def model_pages(
    model: str, sample: str, *, view=(), add=(), change=(), delete=(), superuser=()
) -> dict[str, list[Case]]:
    """The standard admin pages of one model: changelist, add, change (which shows the
    object read-only to viewers), history, delete, and the bare object URL (a redirect to
    the change page, for any staff: the change page then checks). ``superuser`` names the
    pages (``"add"``, ``"delete"``) a superuser may use although no role may."""
    app, name = model.split(".")
    readers = tuple(dict.fromkeys((*view, *change)))

    def page(kind: str, allowed: tuple) -> dict[str, str]:
        return console(*allowed) | ({SUPERUSER: OK} if kind in superuser else {})

    return {
        f"admin:{app}_{name}_changelist": [Case(console(*readers))],
        f"admin:{app}_{name}_add": [Case(page("add", add))],
        f"admin:{app}_{name}_change": [Case(console(*readers), kwargs=obj(sample))],
        f"admin:{app}_{name}_history": [Case(console(*readers), kwargs=obj(sample))],
        f"admin:{app}_{name}_delete": [Case(page("delete", delete), kwargs=obj(sample))],
        f"admin:{app}/{name}/<path:object_id>/": [Case(console(*STAFF), kwargs=obj(sample))],
    }


URLS: dict[str, list[Case]] = {
    # --- REST API -----------------------------------------------------------------------
    "api-schema": [Case({ANONYMOUS: UNAUTHORIZED, **dict.fromkeys((*STAFF, SUPERUSER, API_CLIENT, OTHER_CLIENT), OK)})],
    "api-docs": [Case(console(*STAFF))],
    # /admin/... redirects anyone to the same path at the root (where the checks are made).
    "admin-path-redirect": [Case(everyone(OK), kwargs=lambda o: {"rest": "orders/order/"})],
    "favicon": [Case(everyone(OK))],
    # The import pages' old addresses (/media/import/...) redirect anyone to the new ones.
    "media-import-redirect": [Case(everyone(OK), kwargs=lambda o: {"rest": ""})],
    "order-list": [
        Case(api(*SEE_ORDERS, API_CLIENT)),
        Case(
            api(ADMIN, API_CLIENT),
            method="POST",
            data=lambda o: {"userId": "u", "items": [{"productId": "p", "name": "n", "quantity": 1, "price": 1}]},
            json=True,
        ),
    ],
    "order-detail": [
        Case(owned(api(*SEE_ORDERS, API_CLIENT)), kwargs=obj("order", "order_id")),
        Case(owned(api(ADMIN, API_CLIENT)), method="DELETE", kwargs=obj("order", "order_id")),
    ],
    "order-status": [
        Case(
            owned(api(ADMIN, API_CLIENT)),
            method="PUT",
            kwargs=obj("completed_order", "order_id"),
            data=lambda o: {"status": "DELIVERED"},
            json=True,
        )
    ],
    "order-events": [Case(owned(api(*SEE_ORDERS, API_CLIENT)), kwargs=obj("order", "order_id"))],
    "admin:api-not-found": [Case(everyone(MISSING))],
    "approval-list": [Case(api(*SEE_ORDERS))],
    "approval-detail": [Case(api(*SEE_ORDERS), kwargs=obj("approval", "approval_id"))],
    "approval-approve": [Case(api(OPERATOR, ADMIN), method="POST", kwargs=obj("approval", "approval_id"), json=True)],
    "approval-reject": [
        Case(
            api(OPERATOR, ADMIN),
            method="POST",
            kwargs=obj("approval", "approval_id"),
            data=lambda o: {"reason": "out of stock"},
            json=True,
        )
    ],
    "approval-claim": [Case(api(OPERATOR, ADMIN), method="POST", kwargs=obj("approval", "approval_id"), json=True)],
    "approval-unclaim": [Case(api(OPERATOR, ADMIN), method="POST", kwargs=obj("approval", "approval_id"), json=True)],
    "approval-assign": [
        Case(
            api(OPERATOR, ADMIN),
            method="POST",
            kwargs=obj("approval", "approval_id"),
            data=lambda o: {"username": "role-operator"},
            json=True,
        )
    ],
    # --- REST API: executions, the saga and the audit log ----------------------------------
    "execution-list": [Case(api(*SEE_ORDERS))],
    "execution-detail": [Case(api(*SEE_ORDERS), kwargs=obj("execution", "execution_id"))],
    # The sample execution is running: a restart gets past the permission to the engine's 409.
    "execution-restart": [
        Case(
            api(SUPPORT, ADMIN) | dict.fromkeys((SUPPORT, ADMIN, SUPERUSER), "HTTP 409"),
            method="POST",
            kwargs=obj("execution", "execution_id"),
            json=True,
        )
    ],
    "execution-stop": [
        Case(
            api(SUPPORT, ADMIN),
            method="POST",
            kwargs=obj("execution", "execution_id"),
            data=lambda o: {"reason": "customer asked"},
            json=True,
        )
    ],
    "saga-start": [
        Case(api(SUPPORT, ADMIN), method="POST", data=lambda o: {"orderId": str(o.order.pk)}, json=True)
    ],
    "audit-list": [Case(api(SUPPORT, ADMIN))],
    # --- REST API: dead-letter queues and alarms (support staff and admins) ---------------
    "dlq-list": [Case(api(SUPPORT, ADMIN))],
    "dlq-messages": [Case(api(SUPPORT, ADMIN), kwargs=lambda o: {"name": o.dead_letter.queue_name})],
    "dlq-groups": [Case(api(SUPPORT, ADMIN), kwargs=lambda o: {"name": o.dead_letter.queue_name})],
    "dlq-redrive": [
        Case(
            api(SUPPORT, ADMIN),
            method="POST",
            kwargs=lambda o: {"name": o.dead_letter.queue_name},
            data=lambda o: {"mode": "all", "dryRun": True},
            json=True,
        )
    ],
    "dlq-delete": [
        Case(
            api(SUPPORT, ADMIN),
            method="POST",
            kwargs=lambda o: {"name": o.dead_letter.queue_name},
            data=lambda o: {"messageIds": [o.dead_letter.pk]},
            json=True,
        )
    ],
    "dlq-purge": [
        Case(
            api(SUPPORT, ADMIN),
            method="POST",
            kwargs=lambda o: {"name": o.dead_letter.queue_name},
            data=lambda o: {"confirm": o.dead_letter.queue_name, "reason": "test data"},
            json=True,
        )
    ],
    "redrive-detail": [Case(api(SUPPORT, ADMIN), kwargs=obj("redrive_job", "job_id"))],
    "redrive-cancel": [Case(api(SUPPORT, ADMIN), method="POST", kwargs=obj("redrive_job", "job_id"), json=True)],
    "redrive-resume": [
        Case(api(SUPPORT, ADMIN), method="POST", kwargs=obj("cancelled_redrive_job", "job_id"), json=True)
    ],
    "queue-list": [Case(api(SUPPORT, ADMIN))],
    "queue-pause": [
        Case(api(SUPPORT, ADMIN), method="POST", kwargs=lambda o: {"name": o.queue}, data=REASON, json=True)
    ],
    "queue-resume": [
        Case(api(SUPPORT, ADMIN), method="POST", kwargs=lambda o: {"name": o.queue}, data=REASON, json=True)
    ],
    # What the stage costs: admins only.
    "cost-report": [Case(api(ADMIN))],
    "alarm-list": [Case(api(SUPPORT, ADMIN), query=lambda o: {"state": "ALARM"})],
    "failed-job-list": [Case(api(SUPPORT, ADMIN), query=lambda o: {"text": "k.csv"})],
    "failed-job-detail": [Case(api(SUPPORT, ADMIN), kwargs=obj("task_failure", "failure_id"))],
    "failed-job-retry": [Case(api(SUPPORT, ADMIN), method="POST", kwargs=obj("task_failure", "failure_id"), json=True)],
    "failed-job-discard": [
        Case(api(SUPPORT, ADMIN), method="POST", kwargs=obj("task_failure", "failure_id"), json=True)
    ],
    "failed-job-retry-bulk": [
        Case(api(SUPPORT, ADMIN), method="POST", data=lambda o: {"ids": [o.task_failure.pk]}, json=True)
    ],
    "failed-job-discard-bulk": [
        Case(api(SUPPORT, ADMIN), method="POST", data=lambda o: {"ids": [o.task_failure.pk]}, json=True)
    ],
    "alarm-history": [Case(api(SUPPORT, ADMIN), kwargs=lambda o: {"name": o.alarm.name})],
    "alarm-mute": [
        Case(
            api(SUPPORT, ADMIN),
            method="POST",
            kwargs=lambda o: {"name": o.alarm.name},
            data=lambda o: {"minutes": 30, "reason": "deploying a fix"},
            json=True,
        )
    ],
    "alarm-unmute": [Case(api(SUPPORT, ADMIN), method="POST", kwargs=lambda o: {"name": o.alarm.name}, json=True)],
    "alarm-acknowledge": [Case(api(SUPPORT, ADMIN), method="POST", kwargs=lambda o: {"name": o.alarm.name}, json=True)],
    "alarm-assign": [
        Case(
            api(SUPPORT, ADMIN),
            method="POST",
            kwargs=lambda o: {"name": o.alarm.name},
            data=lambda o: {"owner": ""},
            json=True,
        )
    ],
    # --- Console: the site ----------------------------------------------------------------
    "admin:index": [Case(console(*STAFF))],
    "admin:login": [Case({**everyone(OK)})],
    "admin:logout": [Case(everyone(OK), method="POST")],
    "admin:password_change": [Case(console(*STAFF))],
    # Every staff user manages their own second factor (starting an enrolment is a POST).
    "admin:two_factor": [
        Case(console(*STAFF)),
        Case(console(*STAFF), method="POST", data=lambda o: {"action": "start"}),
    ],
    "admin:two_factor_verify": [Case(console(*STAFF))],
    "admin:password_change_done": [Case(console(*STAFF))],
    # Autocomplete answers with the related model's rows: users, for admins only.
    "admin:autocomplete": [
        Case(console(ADMIN), query=lambda o: {"app_label": "orders", "model_name": "order", "field_name": "created_by"})
    ],
    "admin:jsi18n": [Case(console(*STAFF))],
    # No model has a public page to show ("view on site").
    "admin:view_on_site": [
        Case(
            console(denied=MISSING),
            kwargs=lambda o: {"content_type_id": o.order_content_type, "object_id": o.order.pk},
        )
    ],
    "admin:app_list": [
        Case(console(*STAFF, denied=MISSING), kwargs=lambda o: {"app_label": "orders"}),
        Case(console(*STAFF, denied=MISSING), kwargs=lambda o: {"app_label": "workflows"}),
        Case(console(SUPPORT, ADMIN, denied=MISSING), kwargs=lambda o: {"app_label": "console"}),
        Case(console(ADMIN, denied=MISSING), kwargs=lambda o: {"app_label": "auth"}),
        Case(console(ADMIN, denied=MISSING), kwargs=lambda o: {"app_label": "knox"}),
        Case(console(ADMIN, denied=MISSING), kwargs=lambda o: {"app_label": "axes"}),
        Case(console(SUPPORT, ADMIN, denied=MISSING), kwargs=lambda o: {"app_label": "ops"}),
        Case(console(*STAFF, denied=MISSING), kwargs=lambda o: {"app_label": "media"}),
        Case(console(SUPPORT, ADMIN, denied=MISSING), kwargs=lambda o: {"app_label": "webhooks"}),
    ],
    "admin:(?P<url>.*)$": [Case(console(denied=MISSING), kwargs=lambda o: {"url": "no-such-page/"})],
    # --- Console: orders ------------------------------------------------------------------
    **model_pages("orders.order", "order", view=SEE_ORDERS),
    "admin:orders_order_export": [Case(console(*SEE_ORDERS), query=lambda o: {"status": "CREATED"})],
    "admin:orders_order_export_download": [
        Case(console(), kwargs=lambda o: {"token": _export_token_of_somebody_else()}, note="for another user")
    ],
    "admin:orders_order_note": [
        Case(console(*SEE_ORDERS), method="POST", kwargs=obj("order"), data=lambda o: {"note": "checked"})
    ],
    **model_pages("orders.stocklevel", "stock", view=(ADMIN,), add=(ADMIN,), change=(ADMIN,), superuser=("delete",)),
    # --- Console: workflows ---------------------------------------------------------------
    **model_pages("workflows.approval", "approval", view=SEE_ORDERS),
    "admin:workflows_approval_approve": [
        Case(console(OPERATOR, ADMIN), method="POST", kwargs=obj("approval", "approval_id"))
    ],
    "admin:workflows_approval_claim": [
        Case(console(OPERATOR, ADMIN), method="POST", kwargs=obj("approval", "approval_id"))
    ],
    "admin:workflows_approval_unclaim": [
        Case(console(OPERATOR, ADMIN), method="POST", kwargs=obj("approval", "approval_id"))
    ],
    "admin:workflows_approval_assign": [Case(console(OPERATOR, ADMIN), kwargs=obj("approval", "approval_id"))],
    # An email link shows the decision to every console user; only deciders may take it.
    "admin:workflows_approval_link": [
        Case(console(OPERATOR, SUPPORT, ADMIN) | {SUPPORT: FORBIDDEN}, kwargs=lambda o: {"token": o.link_token})
    ],
    "admin:workflows_approval_reject": [
        Case(console(OPERATOR, ADMIN), kwargs=obj("approval", "approval_id")),
        Case(
            console(OPERATOR, ADMIN),
            method="POST",
            kwargs=obj("approval", "approval_id"),
            data=lambda o: {"reason": "out of stock"},
        ),
    ],
    **model_pages("workflows.execution", "execution", view=SEE_ORDERS),
    # Restarting a running execution is refused with a message (a redirect): only the
    # permission is checked here.
    "admin:workflows_execution_restart": [
        Case(console(SUPPORT, ADMIN), method="POST", kwargs=obj("execution", "execution_id"))
    ],
    # Retrying a compensation of an execution that has none failed is refused with a
    # message (a redirect): only the permission is checked here.
    "admin:workflows_execution_compensation_retry": [
        Case(console(SUPPORT, ADMIN), method="POST", kwargs=obj("execution", "execution_id"))
    ],
    # Starting the saga without naming an order: told so (a redirect), nothing started.
    "admin:workflows_execution_start_saga": [Case(console(SUPPORT, ADMIN), method="POST")],
    # Stopping: the confirmation page, and a POST without a reason (shown the form again,
    # nothing sent to AWS): only the permission is checked here.
    "admin:workflows_execution_stop": [
        Case(console(SUPPORT, ADMIN), kwargs=obj("execution", "execution_id")),
        Case(console(SUPPORT, ADMIN), method="POST", kwargs=obj("execution", "execution_id")),
    ],
    # --- Console: dead-letter queues and alarms -------------------------------------------
    **model_pages("ops.deadletter", "dead_letter", view=(SUPPORT, ADMIN)),
    "admin:ops_deadletter_redrive": [
        Case(console(SUPPORT, ADMIN), query=lambda o: {"queue": o.dead_letter.queue_name}),
        Case(
            console(SUPPORT, ADMIN),
            method="POST",
            data=lambda o: {"queue": o.dead_letter.queue_name, "ids": str(o.dead_letter.pk), "parallelism": 1},
        ),
    ],
    "admin:ops_deadletter_delete_messages": [
        Case(console(SUPPORT, ADMIN), query=lambda o: {"queue": o.dead_letter.queue_name, "ids": o.dead_letter.pk}),
        Case(
            console(SUPPORT, ADMIN),
            method="POST",
            data=lambda o: {"queue": o.dead_letter.queue_name, "ids": str(o.dead_letter.pk), "confirm": "yes"},
        ),
    ],
    "admin:ops_deadletter_purge": [
        Case(console(SUPPORT, ADMIN), query=lambda o: {"queue": o.dead_letter.queue_name}),
    ],
    "admin:ops_deadletter_archive_now": [
        Case(console(SUPPORT, ADMIN), method="POST", data=lambda o: {"queue": o.dead_letter.queue_name})
    ],
    "admin:ops_deadletter_move_task": [
        Case(console(SUPPORT, ADMIN), method="POST", data=lambda o: {"queue": o.dead_letter.queue_name})
    ],
    **model_pages("ops.redrivejob", "redrive_job", view=(SUPPORT, ADMIN)),
    "admin:ops_redrivejob_cancel": [Case(console(SUPPORT, ADMIN), method="POST", kwargs=obj("redrive_job", "job_id"))],
    "admin:ops_redrivejob_resume": [
        Case(console(SUPPORT, ADMIN), method="POST", kwargs=obj("cancelled_redrive_job", "job_id"))
    ],
    # Every queue (no model pages: the queues live in SQS), pause and resume.
    "admin:ops_queue_changelist": [Case(console(SUPPORT, ADMIN))],
    "admin:ops_stagecost_changelist": [Case(console(ADMIN)), Case(console(ADMIN), query=lambda o: {"refresh": "1"})],
    "admin:ops_queue_pause": [
        Case(console(SUPPORT, ADMIN), method="POST", data=lambda o: {"queue": o.queue, "reason": "deploying"})
    ],
    "admin:ops_queue_resume": [
        Case(console(SUPPORT, ADMIN), method="POST", data=lambda o: {"queue": o.queue, "reason": "deployed"})
    ],
    **model_pages("ops.alarm", "alarm", view=(SUPPORT, ADMIN)),
    "admin:ops_alarm_refresh": [Case(console(SUPPORT, ADMIN), method="POST")],
    "admin:ops_alarm_act": [
        Case(
            console(SUPPORT, ADMIN), method="POST", kwargs=obj("alarm", "alarm_id"), data=lambda o: {"action": "fill"}
        ),
        Case(
            console(SUPPORT, ADMIN),
            method="POST",
            kwargs=obj("alarm", "alarm_id"),
            data=lambda o: {"action": "mute", "minutes": "30", "reason": "deploying"},
        ),
    ],
    # --- Console: failed jobs (support staff and admins) -----------------------------------
    **model_pages("ops.taskfailure", "task_failure", view=(SUPPORT, ADMIN)),
    "admin:ops_taskfailure_retry": [
        Case(console(SUPPORT, ADMIN), method="POST", kwargs=obj("task_failure", "failure_id"))
    ],
    "admin:ops_taskfailure_discard": [
        Case(console(SUPPORT, ADMIN), method="POST", kwargs=obj("task_failure", "failure_id"))
    ],
    # --- Console: audit log, users, API tokens, login lockouts ----------------------------
    **model_pages("console.auditentry", "audit", view=(SUPPORT, ADMIN)),
    **model_pages("auth.user", "user", view=(ADMIN,), add=(ADMIN,), change=(ADMIN,), superuser=("delete",)),
    "admin:auth_user_password_change": [Case(console(ADMIN), kwargs=obj("user", "id"))],
    # Removing someone's lost authenticator: a POST, by whoever may change that user.
    "admin:auth_user_two_factor_remove": [
        Case(console(), kwargs=obj("user", "id")),
        Case(console(ADMIN), method="POST", kwargs=obj("user", "id")),
    ],
    # Groups are the roles: only a superuser makes or removes one.
    **model_pages("auth.group", "group", view=(ADMIN,), superuser=("add", "delete")),
    **model_pages("knox.authtoken", "token", view=(ADMIN,), delete=(ADMIN,)),
    **model_pages("axes.accessattempt", "attempt", view=(ADMIN,), delete=(ADMIN,)),
    # --- Media and CSV ingestion --------------------------------------------------------
    # Presigned uploads: an order CSV needs orders.add_import (admins, API clients).
    "media-list": [Case(api(*STAFF, API_CLIENT))],
    "media-detail": [Case(owned(api(*STAFF, API_CLIENT)), kwargs=obj("asset", "asset_id"))],
    "upload-create": [
        Case(
            api(ADMIN, API_CLIENT),
            method="POST",
            data=lambda o: {"purpose": "orders-csv", "filename": "a.csv", "contentType": "text/csv", "size": 10},
            json=True,
        )
    ],
    "import-list": [
        Case(api(*STAFF, API_CLIENT)),
        # Allowed roles reach the validation (the key is outside the import prefixes): 400.
        Case(
            api(ADMIN, API_CLIENT) | dict.fromkeys((ADMIN, SUPERUSER, API_CLIENT, OTHER_CLIENT), "HTTP 400"),
            method="POST",
            data=lambda o: {"key": "media/not-a-csv.png"},
            json=True,
        ),
    ],
    "import-detail": [Case(owned(api(*STAFF, API_CLIENT)), kwargs=obj("import_run", "import_id"))],
    "import-rejected-rows": [Case(owned(api(*STAFF, API_CLIENT)), kwargs=obj("import_run", "import_id"))],
    **model_pages("orders.import", "import_run", view=STAFF, add=(ADMIN,)),
    "admin:orders_import_rejected_rows": [Case(console(*STAFF), kwargs=obj("import_run", "import_id"))],
    "admin:orders_import_resume": [Case(console(ADMIN), method="POST", kwargs=obj("import_run", "import_id"))],
    # Only dry runs can be imported for real: the sample is not one (404 once allowed).
    "admin:orders_import_promote": [
        Case(
            console(ADMIN) | {ADMIN: MISSING, SUPERUSER: MISSING}, method="POST", kwargs=obj("import_run", "import_id")
        )
    ],
    **model_pages("media.mediaasset", "asset", view=STAFF, add=(ADMIN,)),
    # --- Webhooks ---------------------------------------------------------------------------
    # API clients run their own endpoints (the other client finds them missing); admins
    # run every client's; support staff see them and redeliver.
    "webhook-endpoint-list": [
        Case(api(SUPPORT, ADMIN, API_CLIENT)),
        Case(api(ADMIN, API_CLIENT), method="POST", data=lambda o: {"url": "https://example.com/hooks"}, json=True),
    ],
    "webhook-endpoint-detail": [
        Case(owned(api(SUPPORT, ADMIN, API_CLIENT)), kwargs=obj("webhook_endpoint", "pk")),
        Case(
            owned(api(ADMIN, API_CLIENT)),
            method="PATCH",
            kwargs=obj("webhook_endpoint", "pk"),
            data=lambda o: {"description": "orders"},
            json=True,
        ),
        Case(owned(api(ADMIN, API_CLIENT)), method="DELETE", kwargs=obj("webhook_endpoint", "pk")),
    ],
    "webhook-endpoint-rotate-secret": [
        Case(owned(api(ADMIN, API_CLIENT)), method="POST", kwargs=obj("webhook_endpoint", "pk"))
    ],
    "webhook-endpoint-redeliver": [
        Case(owned(api(SUPPORT, ADMIN, API_CLIENT)), method="POST", kwargs=obj("webhook_endpoint", "pk"))
    ],
    "webhook-endpoint-deliveries": [Case(owned(api(SUPPORT, ADMIN, API_CLIENT)), kwargs=obj("webhook_endpoint", "pk"))],
    "webhook-delivery-redeliver": [
        Case(owned(api(SUPPORT, ADMIN, API_CLIENT)), method="POST", kwargs=obj("webhook_delivery", "pk"))
    ],
    # Without endpointId: to the caller's endpoints (none for the other client: 0 deliveries).
    "webhook-replay": [
        Case(
            api(SUPPORT, ADMIN, API_CLIENT),
            method="POST",
            data=lambda o: {"orderId": str(o.order.pk)},
            json=True,
        )
    ],
    # The order-events topic's queue subscribers: staff who manage every endpoint.
    "webhook-queue-list": [Case(api(SUPPORT, ADMIN))],
    # The console's replay page, and a POST of an empty form (shown again, nothing sent).
    "admin:webhooks_endpoint_replay": [
        Case(console(SUPPORT, ADMIN)),
        Case(console(SUPPORT, ADMIN), method="POST"),
    ],
    **model_pages(
        "webhooks.endpoint", "webhook_endpoint", view=(SUPPORT,), add=(ADMIN,), change=(ADMIN,), delete=(ADMIN,)
    ),
    **model_pages("webhooks.delivery", "webhook_delivery", view=(SUPPORT, ADMIN)),
}


# Admin actions (``ModelAdmin.actions``): the roles that are offered each, per model.
ACTIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "orders.order": {"cancel_orders": (ADMIN,), "delete_selected": ()},
    "orders.stocklevel": {"delete_selected": ()},
    "workflows.approval": {"approve_selected": (OPERATOR, ADMIN), "delete_selected": ()},
    "workflows.execution": {"delete_selected": ()},
    "console.auditentry": {"delete_selected": ()},
    "auth.user": {"delete_selected": ()},
    "auth.group": {"delete_selected": ()},
    "knox.authtoken": {"delete_selected": (ADMIN,)},
    "axes.accessattempt": {"delete_selected": (ADMIN,)},
    "ops.deadletter": {
        "redrive_selected": (SUPPORT, ADMIN),
        "delete_selected_messages": (SUPPORT, ADMIN),
        "delete_selected": (),
    },
    "ops.redrivejob": {"delete_selected": ()},
    "ops.alarm": {"delete_selected": ()},
    "ops.queue": {"delete_selected": ()},
    "ops.stagecost": {"delete_selected": ()},
    "ops.taskfailure": {
        "retry_selected": (SUPPORT, ADMIN),
        "discard_selected": (SUPPORT, ADMIN),
        "delete_selected": (),
    },
    "orders.import": {"delete_selected": ()},
    "media.mediaasset": {"delete_selected": ()},
    "webhooks.endpoint": {
        "rotate_secret": (ADMIN,),
        "redeliver_failed": (SUPPORT, ADMIN),
        "delete_selected": (ADMIN,),
    },
    "webhooks.delivery": {"redeliver_selected": (SUPPORT, ADMIN), "delete_selected": ()},
}


def _export_token_of_somebody_else() -> str:
    from orders import exports

    return exports.download_token(key=f"{exports.EXPORT_PREFIX}someone.csv", user_id=0)
