"""Every link and every command the docs quote works: README.md and docs/**/*.md.

* relative links lead to files that exist, and their ``#anchors`` to headings there
  (GitHub's slugs);
* repository paths in code (``console/runtime/jobs.py``, ``orders/imports/``,
  ``bench/csv_ingest.py``, ``scripts/mutate.py``) exist;
* ``make TARGET`` names a target of the Makefile;
* ``python -m MODULE`` (``.venv/bin/python -m ...`` too) names a module Python can find;
* ``manage.py COMMAND`` names a management command of the project.

Code is what stands in backticks and in fenced blocks. Each test lists every failure with
its file and line.
"""

import importlib.util
import re
from pathlib import Path

from django.core.management import get_commands

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

# A word in code is a repository path when it starts with one of these folders, or is one
# of these files.
PATH_ROOTS = ("console", "orders", "workflows", "media", "ops", "infra", "bench", "scripts", "tests", "docs", ".ci")
TOP_FILES = re.compile(
    r"^(Makefile|manage\.py|zappa_settings\.json|pyproject\.toml|requirements(-\w+)?\.txt|README\.md)$"
)
PATH = re.compile(rf"^(?:{'|'.join(re.escape(root) for root in PATH_ROOTS)})/[\w./*-]*$")
MAKE = re.compile(r"(?:^|[\s;&|(])make\s+([a-z][\w-]*)(?=$|[\s;&|)])")
PYTHON_M = re.compile(r"(?:^|[\s/])python[\d.]*\s+(?:-[A-Za-z]\S*\s+)*-m\s+([A-Za-z_][\w.]*)")
MANAGE = re.compile(r"manage\.py\s+([a-z][\w-]*)")
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`]+)`")
FENCE = re.compile(r"^\s*(```|~~~)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped, spaces to
    hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link: its text
    text = text.strip().lower().replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def parse(path: Path):
    """(line number, text, is code) for each line; and the anchors of the file's headings."""
    lines, anchors, seen = [], set(), {}
    fenced = False
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        lines.append((number, line, fenced))
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading and not fenced:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            anchors.add(base if count == 0 else f"{base}-{count}")
    return lines, anchors


def code_of(path: Path):
    """(line number, code) for each code span and each line of a fenced block."""
    for number, line, fenced in parse(path)[0]:
        if fenced:
            yield number, line
        else:
            for match in CODE_SPAN.finditer(line):
                yield number, match.group(1)


def where(path: Path, number: int) -> str:
    return f"{path.relative_to(ROOT)}:{number}"


def report(problems: list[str], what: str) -> None:
    assert not problems, f"{len(problems)} {what}:\n" + "\n".join(f"  {problem}" for problem in problems)


def test_the_docs_are_there():
    assert (ROOT / "README.md").exists()
    assert len(DOCS) > 1, "no docs/**/*.md"


def test_relative_links_lead_to_files_and_headings():
    anchors = {path: parse(path)[1] for path in DOCS}
    problems = []
    for path in DOCS:
        for number, line, fenced in parse(path)[0]:
            if fenced:
                continue
            for target in LINK.findall(CODE_SPAN.sub("", line)):
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                    continue
                file_part, _, anchor = target.partition("#")
                destination = (path.parent / file_part).resolve() if file_part else path
                if not destination.exists():
                    problems.append(f"{where(path, number)}: {target}: no such file")
                    continue
                if anchor and destination.suffix == ".md":
                    known = anchors.get(destination) or parse(destination)[1]
                    if anchor not in known:
                        problems.append(f"{where(path, number)}: {target}: no heading #{anchor} there")
    report(problems, "broken links")


def _words(code: str):
    for word in code.split():
        yield word.strip("\"'`,;:()[]{}")


def test_quoted_paths_exist():
    problems = []
    for path in DOCS:
        for number, code in code_of(path):
            for word in _words(code):
                word = re.sub(r"(::\S+|:\d+)$", "", word)  # a test id or a line number
                if "<" in word or not (PATH.match(word) or TOP_FILES.match(word)):
                    continue
                found = any(ROOT.glob(word.rstrip("/"))) if "*" in word else (ROOT / word).exists()
                if not found:
                    problems.append(f"{where(path, number)}: {word}")
    report(problems, "paths quoted in the docs that do not exist")


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.MULTILINE))
    for phony in re.findall(r"^\.PHONY:(.*)$", text, re.MULTILINE):
        targets.update(phony.split())
    return targets


def test_make_targets_exist():
    targets = makefile_targets()
    problems = [
        f"{where(path, number)}: make {target}"
        for path in DOCS
        for number, code in code_of(path)
        for target in MAKE.findall(code)
        if target not in targets
    ]
    report(problems, "make targets the Makefile does not have")


def test_python_modules_exist():
    problems = []
    for path in DOCS:
        for number, code in code_of(path):
            for module in PYTHON_M.findall(code):
                try:
                    found = importlib.util.find_spec(module) is not None
                except ModuleNotFoundError:
                    found = False
                if not found:
                    problems.append(f"{where(path, number)}: python -m {module}")
    report(problems, "python -m modules that cannot be found")


def test_management_commands_exist():
    commands = get_commands()
    problems = [
        f"{where(path, number)}: manage.py {command}"
        for path in DOCS
        for number, code in code_of(path)
        for command in MANAGE.findall(code)
        if command not in commands
    ]
    report(problems, "manage.py commands that do not exist")


def test_the_slugs_are_githubs():
    assert slug("The deploy rehearsal (`make deploy-local`)") == "the-deploy-rehearsal-make-deploy-local"
    assert slug("Operators' guide") == "operators-guide"
    assert slug("Accounts, roles and signing in") == "accounts-roles-and-signing-in"
    assert slug("`make` variables") == "make-variables"
