"""Lambda functions of imports, wired in ``zappa_settings.json`` ``events``."""

from typing import Any

from orders.imports.services import imports_resume_stalled


def resume_stalled_imports(event: dict[str, Any], context: Any = None) -> dict[str, int]:
    """Scheduled: queue again the work of imports nobody has touched for a while."""
    return {"queued": imports_resume_stalled()}
