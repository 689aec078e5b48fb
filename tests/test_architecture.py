"""The layers hold (docs/contributors/architecture.md).

``make test`` runs the import-linter contracts of pyproject.toml (``lint-imports``): the
apps stand in layers, and so do the platform's packages. These tests add what a contract
cannot say:

* no import cycle between the project's modules, counting every import, those inside
  functions included;
* an import of a project module inside a function says why on its line
  (``# lazy: <reason>``): a cold start that must not load it, or Django's app loading.
  Never to dodge a cycle: the first test would catch that cycle anyway.
"""

import ast
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("console", "orders", "workflows", "media", "ops", "realtime", "infra")


def project_modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the groups of modules that import each other, directly or not."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.remove(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_module_imports_itself_round_a_circle():
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)
    edges = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    circles = strongly_connected(edges)
    assert not circles, "Import circles (inside functions included):\n" + "\n".join(" <-> ".join(c) for c in circles)


def function_imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, module, the line's text) of each import of a project module inside a function."""
    source = path.read_text()
    lines = source.splitlines()
    found = []
    for function in ast.walk(ast.parse(source)):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                if name.split(".")[0] in PACKAGES:
                    text = "\n".join(lines[node.lineno - 1 : node.end_lineno])
                    found.append((node.lineno, name, text))
    return sorted(set(found))


def test_imports_inside_functions_say_why():
    unexplained = []
    for path in project_modules():
        for line, module, text in function_imports(path):
            reason = text.partition("# lazy:")[2].strip()
            if not reason:
                unexplained.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert not unexplained, (
        "Imports of project modules inside functions, without '# lazy: <reason>' on their line "
        "(import at the top, or say why it must wait):\n" + "\n".join(unexplained)
    )


def test_the_checks_find_what_they_look_for(tmp_path):
    """The two checks above fail where they should: a circle, and a silent import."""
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from orders import services\n\n"
        "def g():\n    from orders import models  # lazy: cold start\n\n"
        "def h():\n    import json\n"
    )
    found = function_imports(module)
    assert [(line, name) for line, name, _ in found] == [(2, "orders"), (5, "orders")]
    assert "# lazy:" not in found[0][2] and "# lazy: cold start" in found[1][2]


@pytest.mark.parametrize("config", [ROOT / "pyproject.toml"])
def test_the_layer_contracts_are_kept(config):
    result = subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-logo", "--no-cache", str(config)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
