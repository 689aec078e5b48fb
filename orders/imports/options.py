"""Who may choose an order CSV import's options, and the refusals of import requests.

Used where options are chosen: the upload request (REST, the media app's), the console
upload, and the import request itself (``orders.imports.services``).
"""

from orders.imports.models import IMPORT_HISTORY, Import


class ImportRefused(Exception):
    """An import request that cannot be granted; ``field`` names the input at fault."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


class ImportForbidden(ImportRefused):
    """The user lacks the permission the request needs (history mode: orders.import_history)."""


class ImportOptionsConflict(ImportRefused):
    """The object's import exists with another mode or strictness, which can no longer
    change: they were chosen by an earlier request, or the import has started."""


class ImportNotResumable(ImportRefused):
    """Resume asked of an import with nothing to resume (not started yet, moving, or over)."""


def import_options_check(*, mode: str | None, actor) -> None:
    """Raises ImportForbidden when a user asks for history mode without
    ``orders.import_history``: history orders are APPROVED without workflow or approval,
    an admin's decision. Without a user (the S3 event, the command line) the request was
    made by whoever set the options before (the upload, ``CSV_IMPORT_MODE``)."""
    if mode is not None and mode not in Import.Mode.values:
        raise ValueError(f"unknown import mode {mode!r}")
    user = actor if getattr(actor, "is_authenticated", False) else None
    if mode == Import.Mode.HISTORY and user is not None and not user.has_perm(IMPORT_HISTORY):
        raise ImportForbidden(
            "mode",
            "Importing as decided history (orders approved without workflow or approval) needs the "
            f"permission {IMPORT_HISTORY}, which admins have; import in mode 'workflow', or ask an admin.",
        )
