"""The state machine picture (workflows.graph): every state of both definitions laid out
without overlaps, every transition an edge of its kind, nested branches drawn inside their
state, and an execution's path and current state marked in the SVG."""

import json
import re
from pathlib import Path
from types import SimpleNamespace
from xml.etree import ElementTree

import pytest

from workflows.graph import CATCH, CHOICE, DEFAULT, NEXT, choice_label, definition_graph, execution_path, graph_svg

DEFINITIONS = Path(__file__).resolve().parents[2] / "workflows" / "definitions"
SVG = "{http://www.w3.org/2000/svg}"


def definition(name: str) -> dict:
    return json.loads((DEFINITIONS / f"{name}.asl.json").read_text())


def all_states(states: dict) -> dict:
    """Every state of a definition, nested ones included, by name."""
    found = {}
    for name, state in states.items():
        found[name] = state
        for branch in state.get("Branches", []):
            found |= all_states(branch["States"])
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found |= all_states(processor["States"])
    return found


EVERY_TYPE = {
    "Comment": "Every state type, nested Parallel and Map, a loop, a Retry and Catch.",
    "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Next": "Route"},
        "Route": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.kind", "StringEquals": "bulk", "Next": "EachItem"},
                {
                    "And": [{"Variable": "$.n", "NumericGreaterThan": 3}, {"Variable": "$.x", "IsPresent": True}],
                    "Next": "Both",
                },
            ],
            "Default": "Pause",
        },  # fmt: skip
        "Pause": {"Type": "Wait", "Seconds": 5, "Next": "Prepare"},
        "EachItem": {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Handle",
                "States": {
                    "Handle": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "Next": "Handled"},
                    "Handled": {"Type": "Succeed"},
                },
            },
            "Next": "Done",
        },
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                {
                    "StartAt": "Inner",
                    "States": {
                        "Inner": {
                            "Type": "Parallel",
                            "Branches": [{"StartAt": "Deep", "States": {"Deep": {"Type": "Pass", "End": True}}}],
                            "End": True,
                        }
                    },
                },
            ],
            "Retry": [{"ErrorEquals": ["States.Timeout"], "MaxAttempts": 2}],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Broken"}],
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
        "Broken": {"Type": "Fail", "Error": "Broken", "Cause": "it broke"},
    },
}


@pytest.mark.parametrize("name", ["order-processing", "order-saga"])
def test_every_state_of_our_definitions_is_drawn_and_none_overlaps(name):
    source = definition(name)
    graph = definition_graph(source)
    states = all_states(source["States"])
    assert set(graph.nodes) == set(states)
    assert {node.type for node in graph.nodes.values()} == {state["Type"] for state in states.values()}
    same_scope: dict[str, list] = {}
    for node in graph.nodes.values():
        assert 0 <= node.x and node.x + node.width <= graph.width and 0 <= node.y <= graph.height - node.height
        same_scope.setdefault(node.scope, []).append(node)
    for nodes in same_scope.values():
        for a in nodes:
            for b in nodes:
                if a is not b:
                    apart = (
                        a.x + a.width <= b.x or b.x + b.width <= a.x or a.y + a.height <= b.y or b.y + b.height <= a.y
                    )
                    assert apart, f"{a.name} overlaps {b.name}"


def test_order_processing_edges_follow_next_choices_default_and_catch():
    graph = definition_graph(definition("order-processing"))
    kinds = {(edge.source, edge.target, edge.kind) for edge in graph.edges}
    assert ("ValidateOrder", "CheckInventory", NEXT) in kinds
    assert ("ProcessPaymentOrWait", "RequestApproval", CHOICE) in kinds
    assert ("ProcessPaymentOrWait", "WaitForInventory", DEFAULT) in kinds
    assert ("WaitForInventory", "CheckInventory", NEXT) in kinds  # the loop back
    assert ("RequestApproval", "OrderRejected", CATCH) in kinds
    assert ("ProcessPayment", "RecordFailure", CATCH) in kinds
    # After payment, a failure compensates first, newest first, then records the failure.
    assert ("ParallelFulfillment", "RestockInventory", CATCH) in kinds
    assert ("RestockInventory", "RefundPayment", NEXT) in kinds
    assert ("RefundPayment", "RecordFailure", NEXT) in kinds
    assert ("RefundPayment", "RecordCompensationFailure", CATCH) in kinds
    choice = next(e for e in graph.edges if e.kind == CHOICE and e.source == "ProcessPaymentOrWait")
    assert choice.label == "inventoryAvailable = true"
    resume = {edge.target: edge.label for edge in graph.edges if edge.source == "ResumeOrStart"}
    assert resume["ProcessPayment"] == 'from = "ProcessPayment"' and resume["ValidateOrder"] == "Default"
    assert next(e for e in graph.edges if e.target == "OrderRejected").label == "OrderRejected"
    # Every edge starts and ends on its states.
    for edge in graph.edges:
        assert len(edge.points) >= 2
    # Ranked from the start: the start is on top, the ends below the states that lead to them.
    nodes = graph.nodes
    assert nodes["ValidateOrder"].y < nodes["CheckInventory"].y < nodes["RequestApproval"].y
    assert nodes["CompleteOrder"].y < nodes["OrderCompleted"].y and nodes["RecordFailure"].y < nodes["OrderFailed"].y
    assert "Retries ServiceException: up to 3 more attempt(s)" in graph_svg(graph)


def test_every_state_type_with_nested_parallel_and_map_branches_inside_their_state():
    graph = definition_graph(EVERY_TYPE)
    assert {node.type for node in graph.nodes.values()} == {"Pass", "Choice", "Wait", "Map", "Parallel", "Task",
                                                            "Succeed", "Fail"}  # fmt: skip
    both, inner, each = graph.nodes["Both"], graph.nodes["Inner"], graph.nodes["EachItem"]
    assert [branch.label for branch in both.branches] == ["Branch 1", "Branch 2"]
    assert [branch.label for branch in each.branches] == ["Each item"]
    for outer, child in ((both, "Left"), (both, "Inner"), (inner, "Deep"), (each, "Handle"), (each, "Handled")):
        node = graph.nodes[child]
        assert outer.x < node.x and node.x + node.width < outer.x + outer.width, child
        assert outer.y < node.y and node.y + node.height < outer.y + outer.height, child
    assert graph.nodes["Deep"].scope == "Inner#0" and graph.nodes["Left"].scope == "Both#0"
    inside_map = next(edge for edge in graph.edges if edge.source == "Handle")
    assert (inside_map.target, inside_map.scope) == ("Handled", "EachItem#0")
    assert all(each.x <= x <= each.x + each.width for x, _ in inside_map.points)
    labels = {edge.label for edge in graph.edges if edge.source == "Route"}
    assert labels == {'kind = "bulk"', "n > 3 and x is present", "Default"}
    assert graph.nodes["Both"].retry.startswith("States.Timeout: up to 2 more")


def test_the_svg_is_well_formed_accessible_and_marks_the_path_and_the_current_state():
    graph = definition_graph(definition("order-processing"))
    visits = [
        SimpleNamespace(name="ValidateOrder", outcome="succeeded"),
        SimpleNamespace(name="CheckInventory", outcome="succeeded"),
        SimpleNamespace(name="ProcessPaymentOrWait", outcome="succeeded"),
        SimpleNamespace(name="RequestApproval", outcome="running"),
        SimpleNamespace(name="NotInTheDefinition", outcome="succeeded"),
    ]
    path = execution_path(graph, visits)
    assert path.current == ["RequestApproval"] and path.failed == []
    assert path.taken == {("ValidateOrder", "CheckInventory"), ("CheckInventory", "ProcessPaymentOrWait"),
                          ("ProcessPaymentOrWait", "RequestApproval")}  # fmt: skip
    svg = graph_svg(graph, path=path, title="order-1 <live>")
    root = ElementTree.fromstring(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "eg-title eg-desc"
    assert root.find(f"{SVG}title").text == "order-1 <live>"
    assert "Path taken: ValidateOrder (succeeded)" in root.find(f"{SVG}desc").text
    states = {g.get("data-state"): g for g in root.iter(f"{SVG}g") if "state" in (g.get("class") or "").split()}
    assert set(states) == set(graph.nodes)
    current = [name for name, g in states.items() if "is-current" in g.get("class").split()]
    assert current == ["RequestApproval"]
    assert states["RequestApproval"].find(f"{SVG}title").text == "RequestApproval: Task state, running now. " + (
        "Waits for an operator's decision, stored as a pending approval in the console."
    )
    assert "is-done" in states["ValidateOrder"].get("class")
    assert "is-start" in states["ResumeOrStart"].get("class")
    assert states["ProcessPayment"].find(f"{SVG}title").text.endswith("not reached")
    taken = {(g.get("data-source"), g.get("data-target")) for g in root.iter(f"{SVG}g")
             if "is-taken" in (g.get("class") or "")}  # fmt: skip
    assert taken == path.taken


def test_a_failed_task_marks_its_catch_as_the_way_taken_not_its_next():
    graph = definition_graph(definition("order-saga"))
    visits = [
        SimpleNamespace(name="ReserveInventory", outcome="succeeded"),
        SimpleNamespace(name="ProcessPayment", outcome="failed"),
        SimpleNamespace(name="RollbackInventory", outcome="succeeded"),
        SimpleNamespace(name="SagaFailed", outcome="failed"),
    ]
    path = execution_path(graph, visits)
    svg = graph_svg(graph, path=path)
    assert path.failed == ["ProcessPayment", "SagaFailed"]
    assert re.search(
        r'class="edge kind-catch is-taken" data-source="ProcessPayment" data-target="RollbackInventory"', svg
    )
    assert 'class="edge kind-next" data-source="ProcessPayment" data-target="ConfirmOrder"' in svg


def test_names_and_labels_are_escaped_and_bad_definitions_refused():
    hostile = {"StartAt": "<script>", "States": {"<script>": {"Type": "Succeed", "Comment": '"&'}}}
    svg = graph_svg(definition_graph(hostile))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    ElementTree.fromstring(svg)
    with pytest.raises(ValueError, match="StartAt and States"):
        definition_graph({"States": {}})
    assert choice_label({"Not": {"Variable": "$.a.b", "BooleanEquals": False}}) == "not (b = false)"
    assert choice_label({"Variable": "$.n", "NumericLessThanPath": "$.limit.max"}) == "n < ${max}"
