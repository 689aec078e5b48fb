"""docs/configuration.md names every environment variable the project reads, and only those.

The settings modules (``console/settings/*.py``) are parsed, not imported: every call to
``env``, ``env_bool``, ``env_int``, ``env_list``, ``os.environ.get``, ``os.getenv`` or
``os.environ.setdefault`` and every ``os.environ[...]`` read with a literal name counts.
Their variables belong in the page's "Settings" table. Variables read elsewhere (the local
stack, the deploy tools, the benchmarks, the tests) belong in its second table, and the
``make`` variables it lists must be in the Makefile.
"""

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "configuration.md"
SETTINGS = ROOT / "console" / "settings"
MAKEFILE = ROOT / "Makefile"

SETTINGS_HEADING = "## Settings"
TOOLS_HEADING = "## The local stack, the tools and the tests"
MAKE_HEADING = "## `make` variables"

# Readers of os.environ everywhere; the settings' own helpers only in the settings modules.
OS_READERS = {"os.environ.get", "os.getenv", "os.environ.setdefault", "environ.get", "getenv"}
SETTINGS_READERS = OS_READERS | {"env", "env_bool", "env_int", "env_list"}
ENVIRON = {"os.environ", "environ"}
# Outside the settings: the project's code, not its virtualenv or migrations.
CODE = ["console", "orders", "workflows", "media", "ops", "infra", "bench", "scripts", "tests", "manage.py"]
# The operating system's own variables, which a program passes on to its children.
STANDARD = {"PATH", "PYTHONPATH", "HOME"}


def variables_read(path: Path, readers: set[str]) -> dict[str, list[str]]:
    """Every environment variable ``path`` reads by a literal name, with where."""
    found: dict[str, list[str]] = defaultdict(list)
    tree = ast.parse(path.read_text(), filename=str(path))
    where = path.relative_to(ROOT)
    for node in ast.walk(tree):
        name = None
        if isinstance(node, ast.Call) and ast.unparse(node.func) in readers and node.args:
            name = node.args[0]
        elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and ast.unparse(node.value) in ENVIRON:
            name = node.slice
        elif (
            isinstance(node, ast.Compare)
            and len(node.ops) == 1
            and isinstance(node.ops[0], ast.In | ast.NotIn)
            and ast.unparse(node.comparators[0]) in ENVIRON
        ):
            name = node.left
        if isinstance(name, ast.Constant) and isinstance(name.value, str):
            found[name.value].append(f"{where}:{node.lineno}")
    return found


def merge(*maps: dict[str, list[str]]) -> dict[str, list[str]]:
    merged: dict[str, list[str]] = defaultdict(list)
    for found in maps:
        for name, places in found.items():
            merged[name] += places
    return merged


def settings_variables() -> dict[str, list[str]]:
    return merge(*(variables_read(path, SETTINGS_READERS) for path in sorted(SETTINGS.glob("*.py"))))


def other_variables() -> dict[str, list[str]]:
    paths = []
    for entry in CODE:
        target = ROOT / entry
        paths += [target] if target.is_file() else sorted(target.rglob("*.py"))
    paths = [path for path in paths if "migrations" not in path.parts and SETTINGS not in path.parents]
    found = merge(*(variables_read(path, OS_READERS) for path in paths))
    return {name: places for name, places in found.items() if name not in STANDARD}


def table_rows(heading: str) -> list[str]:
    """The variables named in the first cell of the table under ``heading``."""
    text = DOC.read_text()
    assert heading + "\n" in text, f"docs/configuration.md has no section {heading!r}"
    section = text.split(heading + "\n", 1)[1].split("\n## ", 1)[0]
    names = []
    for line in section.splitlines():
        match = re.match(r"\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", line)
        if match:
            names.append(match.group(1))
    return names


def test_every_variable_the_settings_read_has_a_row():
    documented = set(table_rows(SETTINGS_HEADING))
    missing = {name: places for name, places in settings_variables().items() if name not in documented}
    assert not missing, "read by the settings, without a row in docs/configuration.md (Settings):\n" + "\n".join(
        f"  {name} ({', '.join(places)})" for name, places in sorted(missing.items())
    )


def test_the_settings_table_names_only_what_the_settings_read():
    read = settings_variables()
    extra = sorted(set(table_rows(SETTINGS_HEADING)) - set(read))
    assert not extra, f"in docs/configuration.md (Settings), read by no settings module: {', '.join(extra)}"


def test_no_variable_has_two_rows():
    rows = table_rows(SETTINGS_HEADING) + table_rows(TOOLS_HEADING)
    twice = sorted({name for name in rows if rows.count(name) > 1})
    assert not twice, f"named twice in docs/configuration.md: {', '.join(twice)}"


def test_every_variable_read_outside_the_settings_has_a_row():
    documented = set(table_rows(SETTINGS_HEADING)) | set(table_rows(TOOLS_HEADING))
    missing = {name: places for name, places in other_variables().items() if name not in documented}
    assert not missing, "read by the project, without a row in docs/configuration.md:\n" + "\n".join(
        f"  {name} ({', '.join(places)})" for name, places in sorted(missing.items())
    )


def test_the_tools_table_names_only_what_is_read():
    read = set(other_variables()) | set(settings_variables())
    extra = sorted(set(table_rows(TOOLS_HEADING)) - read)
    assert not extra, f"in docs/configuration.md (local stack, tools, tests), read by nothing: {', '.join(extra)}"


def test_the_make_variables_are_the_makefiles():
    makefile = MAKEFILE.read_text()
    unknown = [
        name
        for name in table_rows(MAKE_HEADING)
        if f"$({name})" not in makefile and not re.search(rf"^{name}\s*\??=", makefile, re.MULTILINE)
    ]
    assert not unknown, f"make variables in docs/configuration.md that the Makefile does not use: {', '.join(unknown)}"
