"""The picture of a state machine: its states laid out in layers from the ASL definition
and drawn as inline SVG on the server, with the path an execution took.

No JavaScript and no library: the console's CSP allows no inline script, and a picture
computed here is the same in every browser and can be tested as data. The layout is a
small Sugiyama-style one: states ranked by their longest path from ``StartAt`` (edges
that loop back, such as a Wait before a re-check, are reversed first), edges spanning
several ranks routed through spacer points so they pass between states, rows ordered by
the barycentre of their neighbours, and columns pulled towards them. Parallel branches
and a Map's item processor are laid out the same way, inside their state, as groups.

State names are unique in a whole definition (AWS requires it, nested branches
included), so a name is a state's id here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape
from typing import Any

# Sizes in SVG user units (pixels at 100 %).
NODE_HEIGHT = 44
RANK_GAP = 46
NODE_GAP = 26
SPACER_GAP = 10
GROUP_PAD = 14
GROUP_HEADER = 26
MARGIN = 16

NEXT, CHOICE, DEFAULT, CATCH = "next", "choice", "default", "catch"


@dataclass
class Edge:
    source: str
    target: str
    kind: str  # next, choice, default, catch
    label: str = ""
    points: list[tuple[float, float]] = field(default_factory=list)
    scope: str = ""  # the branch it is in ("<state>#<index>"), "" at the top level


@dataclass
class Branch:
    """A Parallel branch or a Map's item processor, drawn inside its state."""

    label: str
    key: str  # "<state>#<index>", the scope of its states and edges
    x: float
    y: float
    width: float
    height: float
    start_at: str
    names: list[str]


@dataclass
class Node:
    name: str
    type: str
    x: float = 0.0  # absolute, top left
    y: float = 0.0
    width: float = 0.0
    height: float = NODE_HEIGHT
    scope: str = ""  # as Edge.scope
    retry: str = ""  # a summary of its Retry rules, "" when it has none
    comment: str = ""
    branches: list[Branch] = field(default_factory=list)
    start: bool = False

    @property
    def centre_x(self) -> float:
        return self.x + self.width / 2

    @property
    def container(self) -> str:
        """The Parallel or Map state it is inside ("" at the top level)."""
        return self.scope.split("#")[0]


@dataclass
class Graph:
    width: float
    height: float
    nodes: dict[str, Node]
    edges: list[Edge]
    start_at: str

    def edges_from(self, name: str) -> list[Edge]:
        return [edge for edge in self.edges if edge.source == name]


def definition_graph(definition: dict[str, Any] | str) -> Graph:
    """Lay out a state machine definition (a dict, or its JSON text). Raises ValueError
    when it is not an ASL definition (no ``States`` or ``StartAt``)."""
    if isinstance(definition, str):
        definition = json.loads(definition)
    if not isinstance(definition, dict) or "States" not in definition or "StartAt" not in definition:
        raise ValueError("not a state machine definition: it needs StartAt and States")
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []
    width, height = _layout_scope(definition["States"], definition["StartAt"], scope="", nodes=nodes, edges=edges)
    # Room above the start for its mark.
    _make_absolute(list(definition["States"]), MARGIN, MARGIN + 8, "", nodes, edges)
    return Graph(width + 2 * MARGIN, height + 2 * MARGIN + 8, nodes, edges, definition["StartAt"])


# --- Transitions ---------------------------------------------------------------------------------


def _transitions(name: str, state: dict[str, Any]) -> list[Edge]:
    found = []
    for choice in state.get("Choices", []) or []:
        if choice.get("Next"):
            found.append(Edge(name, choice["Next"], CHOICE, choice_label(choice)))
    if state.get("Default"):
        found.append(Edge(name, state["Default"], DEFAULT, "Default"))
    if state.get("Next"):
        found.append(Edge(name, state["Next"], NEXT))
    for catcher in state.get("Catch", []) or []:
        if catcher.get("Next"):
            found.append(Edge(name, catcher["Next"], CATCH, _errors_label(catcher.get("ErrorEquals", []))))
    return found


def _errors_label(errors: Iterable[str]) -> str:
    return ", ".join("any error" if error == "States.ALL" else error for error in errors)


_OPERATORS = {
    "StringEquals": "=",
    "NumericEquals": "=",
    "BooleanEquals": "=",
    "TimestampEquals": "=",
    "NumericLessThan": "<",
    "NumericGreaterThan": ">",
    "NumericLessThanEquals": "≤",
    "NumericGreaterThanEquals": "≥",
    "StringLessThan": "<",
    "StringGreaterThan": ">",
    "StringMatches": "matches",
    "IsPresent": "is present",
    "IsNull": "is null",
}


def choice_label(rule: dict[str, Any]) -> str:
    """A Choice rule in a few words: ``inventoryAvailable = true``, ``not (...)``."""
    for combinator, word in (("And", " and "), ("Or", " or ")):
        if combinator in rule:
            rules = rule[combinator]
            if combinator == "And":  # "x is present and x = 1" says no more than "x = 1"
                compared = {inner.get("Variable") for inner in rules if "IsPresent" not in inner}
                rules = [inner for inner in rules if not (inner.get("IsPresent") and inner.get("Variable") in compared)]
            return word.join(choice_label(inner) for inner in rules)
    if "Not" in rule:
        return f"not ({choice_label(rule['Not'])})"
    if "Condition" in rule:  # JSONata
        return str(rule["Condition"]).strip("{%} ")
    variable = str(rule.get("Variable", "")).rsplit(".", 1)[-1]
    for key, value in rule.items():
        operator = key.removesuffix("Path")
        if operator in _OPERATORS:
            if operator in {"IsPresent", "IsNull"}:
                return f"{variable} {_OPERATORS[operator]}" if value else f"{variable} not {_OPERATORS[operator][3:]}"
            shown = f"${{{str(value).rsplit('.', 1)[-1]}}}" if key.endswith("Path") else json.dumps(value)
            return f"{variable} {_OPERATORS[operator]} {shown}"
    return "rule"


def _retry_summary(retriers: list[dict[str, Any]]) -> str:
    parts = []
    for retrier in retriers:
        attempts = retrier.get("MaxAttempts", 3)
        parts.append(
            f"{_errors_label(retrier.get('ErrorEquals', []))}: up to {attempts} more attempt(s), "
            f"{retrier.get('IntervalSeconds', 1)} s apart ×{retrier.get('BackoffRate', 2.0)}"
        )
    return "; ".join(parts)


# --- Layout of one scope ---------------------------------------------------------------------------
# Coordinates are first relative to the scope being laid out (a branch's to its branch box);
# ``_make_absolute`` moves everything into place once the top level is done.


def _node_width(name: str, state_type: str) -> float:
    # Roughly 7 units a character at the 12 px label font; the type line is shorter.
    return max(96.0, 7.0 * max(len(name), len(state_type) + 2) + 24)


def _layout_scope(
    states: dict[str, Any], start_at: str, *, scope: str, nodes: dict[str, Node], edges: list[Edge]
) -> tuple[float, float]:
    """Lay out one list of states (the top level, or one branch); returns its size."""
    names = list(states)
    for name, state in states.items():
        node = Node(
            name=name,
            type=state.get("Type", "?"),
            scope=scope,
            retry=_retry_summary(state.get("Retry", []) or []),
            comment=state.get("Comment", ""),
            start=name == start_at,
        )
        node.width = _node_width(name, node.type) + (18 if node.retry else 0)
        nodes[name] = node
        inner = _inner_branches(state)
        if inner:
            _layout_compound(node, inner, nodes, edges)
    scope_edges = [edge for name in names for edge in _transitions(name, states[name]) if edge.target in states]
    for edge in scope_edges:
        edge.scope = scope
    if not names:
        return 0.0, 0.0

    ranks, looping = _rank(names, start_at, scope_edges)
    rows, chains = _rows_with_spacers(names, ranks, scope_edges, looping)
    _order_rows(rows)
    width, height, spacers = _place(rows, nodes)
    for index, edge in enumerate(scope_edges):
        through = [spacers[key] for key in chains[index]]
        if index in looping:
            through.reverse()
        edge.points = _route(nodes[edge.source], nodes[edge.target], through)
    edges.extend(scope_edges)
    return width, height


def _inner_branches(state: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if state.get("Type") == "Parallel":
        return [(f"Branch {index}", branch) for index, branch in enumerate(state.get("Branches", []), 1)]
    if state.get("Type") == "Map":
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            return [("Each item", processor)]
    return []


def _layout_compound(node: Node, inner: list[tuple[str, dict[str, Any]]], nodes, edges) -> None:
    """Lay out each branch and size the Parallel/Map state around them, side by side."""
    x = GROUP_PAD
    tallest = 0.0
    for index, (label, branch) in enumerate(inner):
        key = f"{node.name}#{index}"
        states = branch.get("States", {}) or {}
        width, height = _layout_scope(states, branch.get("StartAt", ""), scope=key, nodes=nodes, edges=edges)
        box = Branch(
            label=label,
            key=key,
            x=x,
            y=GROUP_HEADER,
            width=width + 2 * GROUP_PAD,
            height=height + GROUP_HEADER + GROUP_PAD,
            start_at=branch.get("StartAt", ""),
            names=list(states),
        )
        node.branches.append(box)
        x += box.width + GROUP_PAD
        tallest = max(tallest, box.height)
    node.width = max(node.width, x)
    node.height = GROUP_HEADER + tallest + GROUP_PAD


def _make_absolute(names: list[str], dx: float, dy: float, scope: str, nodes, edges) -> None:
    for edge in edges:
        if edge.scope == scope:
            edge.points = [(px + dx, py + dy) for px, py in edge.points]
    for name in names:
        node = nodes[name]
        node.x += dx
        node.y += dy
        for branch in node.branches:
            branch.x += node.x
            branch.y += node.y
            _make_absolute(branch.names, branch.x + GROUP_PAD, branch.y + GROUP_HEADER, branch.key, nodes, edges)


def _rank(names: list[str], start_at: str, edges: list[Edge]) -> tuple[dict[str, int], set[int]]:
    """Each state's rank: its longest path from the start, over the edges with those that
    close a loop (found by a depth-first walk from the start) reversed."""
    out: dict[str, list[tuple[int, Edge]]] = {name: [] for name in names}
    for index, edge in enumerate(edges):
        out[edge.source].append((index, edge))
    looping: set[int] = set()
    seen: dict[str, int] = {}  # 1 on the walk's stack, 2 done
    finished: list[str] = []
    for root in [start_at, *names]:
        if root not in out or root in seen:
            continue
        seen[root] = 1
        stack = [(root, iter(out[root]))]
        while stack:
            current, children = stack[-1]
            for index, edge in children:
                if edge.target == current or seen.get(edge.target) == 1:
                    looping.add(index)
                elif edge.target not in seen:
                    seen[edge.target] = 1
                    stack.append((edge.target, iter(out[edge.target])))
                    break
            else:
                seen[current] = 2
                finished.append(current)
                stack.pop()
    ranks = dict.fromkeys(names, 0)
    for name in reversed(finished):  # a topological order once the loops are reversed
        for index, edge in out[name]:
            if index not in looping:
                ranks[edge.target] = max(ranks[edge.target], ranks[name] + 1)
    return ranks, looping


@dataclass
class _Item:
    """A state, or a spacer point a long edge passes through, in a row."""

    key: str
    width: float = 0.0
    x: float = 0.0
    ups: list[str] = field(default_factory=list)
    downs: list[str] = field(default_factory=list)


def _rows_with_spacers(names, ranks, edges, looping) -> tuple[list[list[_Item]], dict[int, list[str]]]:
    rows: list[list[_Item]] = [[] for _ in range(max(ranks.values()) + 1)]
    items: dict[str, _Item] = {}
    for name in names:  # definition order is the first order of each row
        items[name] = _Item(name)
        rows[ranks[name]].append(items[name])
    chains: dict[int, list[str]] = {}
    for index, edge in enumerate(edges):
        upper, lower = (edge.target, edge.source) if index in looping else (edge.source, edge.target)
        chains[index] = [f"~{index}~{rank}" for rank in range(ranks[upper] + 1, ranks[lower])]
        for rank, key in zip(range(ranks[upper] + 1, ranks[lower]), chains[index], strict=True):
            items[key] = _Item(key)
            rows[rank].append(items[key])
        chain = [upper, *chains[index], lower]
        for above, below in zip(chain, chain[1:], strict=False):
            if above != below:
                items[above].downs.append(below)
                items[below].ups.append(above)
    return rows, chains


def _order_rows(rows: list[list[_Item]]) -> None:
    """Fewer crossings: each row sorted by the mean position of its neighbours in the row
    above (then, sweeping back, below), a few times; ties keep their order."""
    for _ in range(4):
        for ranks, upward in ((range(1, len(rows)), True), (range(len(rows) - 2, -1, -1), False)):
            for rank in ranks:
                neighbours = rows[rank - 1] if upward else rows[rank + 1]
                position = {item.key: index for index, item in enumerate(neighbours)}

                def barycentre(indexed, position=position, upward=upward):
                    index, item = indexed
                    linked = [position[key] for key in (item.ups if upward else item.downs) if key in position]
                    return (sum(linked) / len(linked), index) if linked else (float(index), index)

                rows[rank] = [item for _, item in sorted(enumerate(rows[rank]), key=barycentre)]


def _pack(row: list[_Item], wanted: list[float]) -> None:
    """Put each item of a row as near its wanted centre as the order and gaps allow."""
    right = None
    for item, centre in zip(row, wanted, strict=True):
        left = centre - item.width / 2
        if right is not None:
            left = max(left, right + (SPACER_GAP if item.width == 0 else NODE_GAP))
        item.x = left
        right = left + item.width
    # Items pushed right drag the row's centre: move the row back by half of that.
    drift = sum(item.x + item.width / 2 - centre for item, centre in zip(row, wanted, strict=True)) / len(row)
    for item in row:
        item.x -= drift / 2


def _place(rows: list[list[_Item]], nodes: dict[str, Node]) -> tuple[float, float, dict[str, tuple[float, float]]]:
    """Columns: rows packed, then pulled towards their neighbours' centres a few times;
    rows one under the other. Returns the size and the spacers' points."""
    by_key = {item.key: item for row in rows for item in row}
    for item in by_key.values():
        item.width = nodes[item.key].width if item.key in nodes else 0.0
    for row in rows:
        _pack(row, [index * 140.0 for index in range(len(row))])

    def centre(item: _Item) -> float:
        return item.x + item.width / 2

    for _ in range(8):
        for sweep, attribute in ((rows[1:], "ups"), (rows[-2::-1], "downs")):
            for row in sweep:
                wanted = []
                for item in row:
                    linked = [by_key[key] for key in getattr(item, attribute)]
                    wanted.append(sum(centre(k) for k in linked) / len(linked) if linked else centre(item))
                _pack(row, wanted)
    left = min(item.x for item in by_key.values())
    right = max(item.x + item.width for item in by_key.values())
    spacers: dict[str, tuple[float, float]] = {}
    y = 0.0
    for row in rows:
        height = max((nodes[item.key].height for item in row if item.key in nodes), default=NODE_HEIGHT)
        for item in row:
            if item.key in nodes:
                nodes[item.key].x, nodes[item.key].y = item.x - left, y
            else:
                spacers[item.key] = (item.x - left, y + height / 2)
        y += height + RANK_GAP
    return right - left, y - RANK_GAP, spacers


def _route(source: Node, target: Node, through: list[tuple[float, float]]) -> list[tuple[float, float]]:
    if source is target:  # a state that goes to itself: a small loop on its right
        x, y = source.x + source.width, source.y + source.height / 2
        return [(x, y - 8), (x + 22, y - 8), (x + 22, y + 8), (x, y + 8)]
    if source.y < target.y:
        return [(source.centre_x, source.y + source.height), *through, (target.centre_x, target.y)]
    # A loop back up: out of the top, into the bottom, beside the forward edges.
    return [(source.centre_x - 12, source.y), *through, (target.centre_x - 12, target.y + target.height)]


# --- The path an execution took --------------------------------------------------------------------

DONE, CURRENT, FAILED = "done", "current", "failed"
_OUTCOME_STATUS = {"succeeded": DONE, "running": CURRENT, "failed": FAILED, "timed out": FAILED, "aborted": FAILED}


@dataclass
class ExecutionPath:
    """Where an execution went: each visited state's status (done, current, failed; the
    last visit's), and the transitions it took, as (source, target) pairs."""

    statuses: dict[str, str] = field(default_factory=dict)
    taken: set[tuple[str, str]] = field(default_factory=set)
    steps: list[tuple[str, str]] = field(default_factory=list)  # (state, outcome), in order

    @property
    def current(self) -> list[str]:
        return [name for name, status in self.statuses.items() if status == CURRENT]

    @property
    def failed(self) -> list[str]:
        return [name for name, status in self.statuses.items() if status == FAILED]


def execution_path(graph: Graph, visits: Iterable[Any]) -> ExecutionPath:
    """The path from the states an execution entered, in order (objects with ``name``
    and ``outcome``: succeeded, failed, timed out, running). A transition is taken when
    a state is entered after another of the same branch; a failed state's way out is its
    Catch, any other's its Next or Choice. States the definition lacks are left out."""
    path = ExecutionPath()
    last_in_scope: dict[str, str] = {}
    for visit in visits:
        node = graph.nodes.get(visit.name)
        if node is None:
            continue
        path.steps.append((visit.name, visit.outcome))
        path.statuses[visit.name] = _OUTCOME_STATUS.get(visit.outcome, DONE)
        previous = last_in_scope.get(node.scope)
        if previous is not None:
            path.taken.add((previous, visit.name))
        last_in_scope[node.scope] = visit.name
    return path


# --- SVG ------------------------------------------------------------------------------------------------

_STATUS_WORDS = {DONE: "succeeded", CURRENT: "running now", FAILED: "failed"}


def graph_svg(graph: Graph, *, path: ExecutionPath | None = None, title: str = "State machine") -> str:
    """The graph as an inline ``<svg>`` element (escaped text; mark it safe to show it).

    Each state is a ``<g class="state ...">`` with ``data-state`` (its name), a ``<title>``
    (its name, type, status, retries and catches) and the classes ``is-done``,
    ``is-current`` or ``is-failed`` from ``path``; taken transitions have ``is-taken``.
    """
    path = path or ExecutionPath()
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="execution-graph" viewBox="0 0 {graph.width:.0f} '
        f'{graph.height:.0f}" width="{graph.width:.0f}" height="{graph.height:.0f}" role="img" '
        'aria-labelledby="eg-title eg-desc">',
        f'<title id="eg-title">{escape(title)}</title>',
        f'<desc id="eg-desc">{escape(_description(graph, path))}</desc>',
        "<defs>",
        *(
            f'<marker id="eg-arrow-{kind}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="9" markerHeight="9" '
            f'markerUnits="userSpaceOnUse" orient="auto"><path d="M0,0 L10,5 L0,10 z" class="arrow-{kind}"/></marker>'
            for kind in ("plain", "catch", "taken")
        ),
        "</defs>",
    ]
    compound = [node for node in graph.nodes.values() if node.branches]
    simple = [node for node in graph.nodes.values() if not node.branches]
    for node in sorted(compound, key=lambda n: n.scope.count("#")):  # outer first
        parts.append(_compound_svg(node, path))
    start = graph.nodes.get(graph.start_at)
    if start is not None:
        parts.append(
            f'<g class="start-mark" aria-hidden="true">'
            f'<circle cx="{start.centre_x:.1f}" cy="{start.y - 12:.1f}" r="4"/>'
            f'<line x1="{start.centre_x:.1f}" y1="{start.y - 8:.1f}" x2="{start.centre_x:.1f}" y2="{start.y:.1f}"/></g>'
        )
    parts.append('<g class="edges">')
    parts.extend(_edge_svg(edge, path) for edge in graph.edges)
    parts.append("</g>")
    parts.extend(_node_svg(node, path) for node in simple)
    parts.append('<g class="edge-labels" aria-hidden="true">')
    parts.extend(_edge_label_svg(edge) for edge in graph.edges if edge.kind in {CHOICE, DEFAULT})
    parts.append("</g></svg>")
    return "".join(parts)


def _description(graph: Graph, path: ExecutionPath) -> str:
    text = f"{len(graph.nodes)} states, starting at {graph.start_at}."
    if path.steps:
        text += " Path taken: " + ", ".join(f"{name} ({outcome})" for name, outcome in path.steps) + "."
    return text


def _classes(node: Node, path: ExecutionPath) -> str:
    classes = ["state", f"type-{node.type.lower()}"]
    status = path.statuses.get(node.name)
    if status:
        classes.append(f"is-{status}")
    if node.start:
        classes.append("is-start")
    return " ".join(classes)


def _node_title(node: Node, path: ExecutionPath) -> str:
    status = path.statuses.get(node.name)
    text = f"{node.name}: {node.type} state"
    text += f", {_STATUS_WORDS[status]}" if status else (", not reached" if path.steps else "")
    if node.retry:
        text += f". Retries {node.retry}"
    if node.comment:
        text += f". {node.comment}"
    return text


def _node_svg(node: Node, path: ExecutionPath) -> str:
    x, y, w, h = node.x, node.y, node.width, node.height
    if node.type == "Choice":  # a box with cut corners, as a decision
        c = 12
        points = f"{x + c},{y} {x + w - c},{y} {x + w},{y + h / 2} {x + w - c},{y + h} {x + c},{y + h} {x},{y + h / 2}"
        shape = f'<polygon class="box" points="{points}"/>'
    else:
        radius = h / 2 if node.type in {"Succeed", "Fail", "Wait"} else 6
        shape = f'<rect class="box" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{radius:.0f}"/>'
    retry = ""
    if node.retry:
        # A circular arrow in the corner: the state retries itself (the rules are in its title).
        retry = (
            f'<g class="retry" aria-hidden="true"><path d="M{x + w - 9:.1f},{y + 9:.1f} a6,6 0 1,1 -5,-3" />'
            f'<path class="tip" d="M{x + w - 15:.1f},{y + 3:.1f} l1,4 l4,-2 z"/></g>'
        )
    return (
        f'<g class="{_classes(node, path)}" data-state="{escape(node.name)}" data-type="{escape(node.type)}">'
        f"<title>{escape(_node_title(node, path))}</title>{shape}"
        f'<text class="name" x="{node.centre_x:.1f}" y="{y + 19:.1f}" text-anchor="middle">{escape(node.name)}</text>'
        f'<text class="kind" x="{node.centre_x:.1f}" y="{y + 34:.1f}" text-anchor="middle">{escape(node.type)}</text>'
        f"{retry}</g>"
    )


def _compound_svg(node: Node, path: ExecutionPath) -> str:
    parts = [
        f'<g class="{_classes(node, path)} compound" data-state="{escape(node.name)}" data-type="{escape(node.type)}">',
        f"<title>{escape(_node_title(node, path))}</title>",
        f'<rect class="box" x="{node.x:.1f}" y="{node.y:.1f}" width="{node.width:.1f}" '
        f'height="{node.height:.1f}" rx="8"/>',
        f'<text class="name" x="{node.x + 10:.1f}" y="{node.y + 17:.1f}">{escape(node.name)}'
        f'<tspan class="kind"> {escape(node.type)}</tspan></text>',
    ]
    for branch in node.branches:
        parts.append(
            f'<g class="branch"><rect x="{branch.x:.1f}" y="{branch.y:.1f}" width="{branch.width:.1f}" '
            f'height="{branch.height:.1f}" rx="6"/><text x="{branch.x + 8:.1f}" y="{branch.y + 16:.1f}">'
            f"{escape(branch.label)}</text></g>"
        )
    parts.append("</g>")
    return "".join(parts)


def _path_data(points: list[tuple[float, float]]) -> str:
    (x0, y0), rest = points[0], points[1:]
    data = [f"M{x0:.1f},{y0:.1f}"]
    for x1, y1 in rest:
        if abs(y1 - y0) > 1:  # a smooth S between rows
            middle = (y0 + y1) / 2
            data.append(f"C{x0:.1f},{middle:.1f} {x1:.1f},{middle:.1f} {x1:.1f},{y1:.1f}")
        else:
            data.append(f"L{x1:.1f},{y1:.1f}")
        x0, y0 = x1, y1
    return " ".join(data)


def _edge_svg(edge: Edge, path: ExecutionPath) -> str:
    taken = (edge.source, edge.target) in path.taken and (
        (edge.kind == CATCH) == (path.statuses.get(edge.source) == FAILED)
    )
    classes = f"edge kind-{edge.kind}" + (" is-taken" if taken else "")
    marker = "taken" if taken else ("catch" if edge.kind == CATCH else "plain")
    what = {NEXT: "then", CHOICE: "when", DEFAULT: "otherwise", CATCH: "on error"}[edge.kind]
    title = f"{edge.source} → {edge.target} ({what}{': ' + edge.label if edge.label and edge.kind != DEFAULT else ''})"
    return (
        f'<g class="{classes}" data-source="{escape(edge.source)}" data-target="{escape(edge.target)}">'
        f"<title>{escape(title)}</title>"
        f'<path d="{_path_data(edge.points)}" marker-end="url(#eg-arrow-{marker})"/></g>'
    )


def _edge_label_svg(edge: Edge) -> str:
    # Near the end of the edge: a Choice's edges start together but end apart.
    (x0, y0), (x1, y1) = edge.points[-2], edge.points[-1]
    x, y = x0 + (x1 - x0) * 0.75, y0 + (y1 - y0) * 0.75
    return f'<text class="edge-label" x="{x:.1f}" y="{y:.1f}" text-anchor="middle">{escape(edge.label)}</text>'
