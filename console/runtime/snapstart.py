"""Lambda SnapStart (zappa_settings.json ``snap_start`` on the prod stage's API function): the
set-up a cold start would do, done once before the snapshot; what restored environments
must not share, redone after each restore.

Lambda initialises a version with SnapStart once, when it is published: it imports the
handler, runs the before-snapshot hooks (in the reverse order of registration) and
snapshots the memory. Every execution environment then starts from that snapshot, runs the
after-restore hooks (in order, within 10 s) and takes invocations. Hence:

* ``prepare_snapshot`` does what a first request would: loads Zappa's settings and Django
  (settings, apps, the WSGI handler and its middleware), imports boto3 and botocore and the
  module of every function the stage routes events to, loads every URL module (those
  ``lazy_include`` leaves for later too) and reverses the URL patterns, compiles every
  template the template engines can find, and builds the fields of every DRF serializer.
  Then it closes the database connections (a socket in the snapshot would be shared by
  every environment restored from it) and freezes the heap out of garbage collection.
* ``refresh_after_restore`` reseeds ``random`` (its state is the snapshot's, the same in
  every environment), drops the console's cached AWS clients and boto3's default session
  (their credentials are the ones of the snapshot's moment, and expire), closes any
  database connection again (Django opens one on the next query) and counts the next
  invocation as the cold start it is. ``os.urandom``, ``secrets`` and ``uuid.uuid4`` read
  the kernel's generator and need nothing.

Only when ``AWS_LAMBDA_INITIALIZATION_TYPE`` is ``snap-start``, which Lambda sets while
initialising a version that has SnapStart on: then the handler makes none of the import
deferrals of ``console.runtime.deferred_imports`` (an import done before the snapshot costs
a restore nothing). Invocations of ``$LATEST`` (SQS event sources and schedules, which Zappa
maps to the unqualified function) initialise on demand, deferrals and all.
"""

import gc
import importlib
import logging
import os
import random
import sys
from typing import Any

from console.aws import clients
from console.platform import observability

logger = logging.getLogger(__name__)

INITIALIZATION_TYPE = "snap-start"
# Imported before the snapshot although no URL module imports them at start-up: the AWS
# SDK (the console's clients import botocore on first use) and what a request that calls
# AWS then loads.
AWS_MODULES = (
    "boto3",
    "boto3.session",
    "botocore.client",
    "botocore.config",
    "botocore.session",
    "console.aws.clients",
)


def enabled(environ: dict[str, str] | None = None) -> bool:
    """Whether this process is Lambda initialising a version for a SnapStart snapshot."""
    environ = os.environ if environ is None else environ
    return environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == INITIALIZATION_TYPE


def register_hooks() -> None:
    from snapshot_restore_py import register_after_restore, register_before_snapshot

    register_before_snapshot(prepare_snapshot)
    register_after_restore(refresh_after_restore)


def prepare_snapshot() -> dict[str, int]:
    """Set everything up, then leave no connection open. Returns what it warmed (counts),
    also logged. A part that fails is logged and skipped: the snapshot is still taken, and
    that part is done by the first request instead, as without SnapStart."""
    from django.db import connections
    from zappa import handler as zappa_handler

    app = zappa_handler.LambdaHandler()  # Zappa's settings, Django and its WSGI handler
    warmed = {
        "modules": _import_modules(app),
        "url_patterns": _load_url_patterns(),
        "templates": _compile_templates(),
        "serializers": _build_serializers(),
    }
    connections.close_all()
    gc.collect()
    gc.freeze()
    gc.enable()  # off since the handler's import (console.runtime.lambda_handler)
    logger.info("snapshot prepared: %s", warmed)
    return warmed


def refresh_after_restore() -> None:
    """Make this restored environment its own (see the module docstring)."""
    from django.db import connections

    random.seed()
    clients.reset_clients()
    if "boto3" in sys.modules:
        sys.modules["boto3"].DEFAULT_SESSION = None
    connections.close_all()
    observability.restored()


def _import_modules(app: Any) -> int:
    from django.conf import settings
    from django.contrib.auth import get_backends

    get_backends()  # the authentication backends, imported and made by the first login
    names = list(AWS_MODULES)
    # Imported by name on a request's way: the session engine, its serializer, the messages' storage.
    names += [settings.SESSION_ENGINE]
    names += [path.rpartition(".")[0] for path in (settings.SESSION_SERIALIZER, settings.MESSAGE_STORAGE)]
    functions = [getattr(settings, name, "") for name in ("LAMBDA_WEBSOCKET_FUNCTION", "LAMBDA_ALARM_ACTION_FUNCTION")]
    for mapped in getattr(app.settings, "AWS_EVENT_MAPPING", {}).values():  # a function, or a list of them
        functions += [mapped] if isinstance(mapped, str) else list(mapped)
    names += [function.rpartition(".")[0] for function in functions if function]
    imported = 0
    for name in dict.fromkeys(names):
        try:
            importlib.import_module(name)
            imported += 1
        except Exception:
            logger.exception("before the snapshot: could not import %s", name)
    return imported


def _load_url_patterns() -> int:
    """Every URL module (``lazy_include``'s imported now) and the reverse lookups."""
    from django.urls import URLResolver, get_resolver

    root = get_resolver()
    count, resolvers = 0, [root]
    while resolvers:
        resolver = resolvers.pop()
        try:
            patterns = resolver.url_patterns
        except Exception:
            logger.exception("before the snapshot: could not load the URL module %s", resolver.urlconf_name)
            continue
        for pattern in patterns:
            count += 1
            if isinstance(pattern, URLResolver):
                resolvers.append(pattern)
    root.reverse_dict  # noqa: B018  builds the reverse lookups of every namespace
    return count


def _compile_templates() -> int:
    """Every template under the engines' folders, into the cached loader."""
    from pathlib import Path

    from django.template import engines

    compiled = 0
    for engine in engines.all():
        for folder in map(Path, getattr(engine, "template_dirs", ())):
            for path in sorted(folder.rglob("*")):
                if path.suffix not in (".html", ".txt", ".xml", ".svg"):
                    continue
                try:
                    engine.get_template(path.relative_to(folder).as_posix())
                    compiled += 1
                except Exception:  # a third party's template for a library not installed
                    logger.debug("before the snapshot: template %s not compiled", path, exc_info=True)
    return compiled


def _build_serializers() -> int:
    """The fields of every DRF serializer class loaded (the URL modules loaded them): the
    model field look-ups and field classes a first request would build."""
    from rest_framework.serializers import BaseSerializer, ListSerializer

    built, classes = 0, list(BaseSerializer.__subclasses__())
    seen: set[type] = set()
    while classes:
        cls = classes.pop()
        if cls in seen:
            continue
        seen.add(cls)
        classes.extend(cls.__subclasses__())
        if issubclass(cls, ListSerializer) or not hasattr(cls, "get_fields"):
            continue
        try:
            cls().fields  # noqa: B018
            built += 1
        except Exception:  # abstract, or needs a context (a request) to know its fields
            logger.debug("before the snapshot: serializer %s not built", cls.__qualname__, exc_info=True)
    return built
