"""`rollouts.kube.lean`: what a cached object keeps, what it drops, what it shares.

The objects (`kube_objects.json`) are a Rollout and its ReplicaSet as the API server
sent them in the scale benchmark, managedFields included.
"""

from __future__ import annotations

import copy
import json
import tracemalloc
from pathlib import Path
from typing import Any

from rollouts.kube.lean import DROPPED_ANNOTATIONS, StringTable, lean

OBJECTS = json.loads((Path(__file__).parent / "kube_objects.json").read_text())
LAST_APPLIED = DROPPED_ANNOTATIONS[0]


def rollout() -> dict[str, Any]:
    return copy.deepcopy(OBJECTS["rollout"])


def replica_set() -> dict[str, Any]:
    return copy.deepcopy(OBJECTS["replicaSet"])


def without_bookkeeping(obj: dict[str, Any]) -> dict[str, Any]:
    expected = copy.deepcopy(obj)
    expected["metadata"].pop("managedFields", None)
    annotations = expected["metadata"].get("annotations") or {}
    annotations.pop(LAST_APPLIED, None)
    if "annotations" in expected["metadata"] and not annotations:
        del expected["metadata"]["annotations"]
    return expected


class TestKeptAndDropped:
    def test_managed_fields_go_and_everything_else_stays(self) -> None:
        for original in (rollout(), replica_set()):
            assert original["metadata"]["managedFields"]
            slim = lean(original, StringTable())
            assert "managedFields" not in slim["metadata"]
            assert slim == without_bookkeeping(original)
            assert slim["spec"] == original["spec"] and slim["status"] == original["status"]

    def test_the_last_applied_annotation_goes_other_annotations_stay(self) -> None:
        original = replica_set()
        original["metadata"]["annotations"][LAST_APPLIED] = json.dumps(rollout())
        slim = lean(original, StringTable())
        assert slim["metadata"]["annotations"] == {"rollout.argoproj.io/revision": "1"}

    def test_annotations_left_empty_are_removed(self) -> None:
        original = rollout()
        original["metadata"]["annotations"] = {LAST_APPLIED: "{}"}
        assert "annotations" not in lean(original, StringTable())["metadata"]

    def test_the_original_is_not_changed(self) -> None:
        original = rollout()
        original["metadata"]["annotations"] = {LAST_APPLIED: "{}", "a": "b"}
        before = copy.deepcopy(original)
        lean(original, StringTable())
        assert original == before

    def test_objects_without_metadata_pass(self) -> None:
        assert lean({"kind": "X", "items": [1, "a", [{"b": None}]]}, StringTable()) == {
            "kind": "X", "items": [1, "a", [{"b": None}]]}


class TestSharing:
    def test_equal_short_strings_of_two_objects_are_one_object(self) -> None:
        table = StringTable()
        first = lean(json.loads(json.dumps(rollout())), table)
        second = lean(json.loads(json.dumps(rollout())), table)
        assert first["metadata"]["namespace"] is second["metadata"]["namespace"]
        assert first["apiVersion"] is second["apiVersion"]
        first_condition = first["status"]["conditions"][0]
        second_condition = second["status"]["conditions"][0]
        assert first_condition["reason"] is second_condition["reason"]
        assert next(iter(first_condition)) is next(iter(second_condition))  # keys too

    def test_per_object_values_are_shared_within_the_object_only(self) -> None:
        table = StringTable()
        slim = lean(json.loads(json.dumps(rollout())), table)
        conditions = slim["status"]["conditions"]
        assert conditions[0]["lastTransitionTime"] is conditions[0]["lastUpdateTime"]
        # a uid, a resourceVersion, a time never enter the process-wide table: they
        # differ in every object or update, so it would only grow
        for unique in (slim["metadata"]["uid"], slim["metadata"]["resourceVersion"],
                       conditions[0]["lastTransitionTime"]):
            assert unique not in table
        assert slim["metadata"]["namespace"] in table and slim["kind"] in table

    def test_the_table_is_bounded(self) -> None:
        table = StringTable(limit=50)
        for index in range(500):
            table.share(f"name-{index}")
            assert len(table) <= 50

    def test_many_lean_copies_take_less_than_half_the_memory(self) -> None:
        texts = []
        for index in range(300):
            for original in (rollout(), replica_set()):
                original["metadata"]["name"] += f"-{index}"
                original["metadata"]["uid"] = f"uid-{index}-{original['kind']}"
                texts.append(json.dumps(original))
        raw_bytes = _held(lambda: [json.loads(text) for text in texts])
        table = StringTable()
        lean_bytes = _held(lambda: [lean(json.loads(text), table) for text in texts])
        assert lean_bytes < raw_bytes / 2, (lean_bytes, raw_bytes)


def _held(build: Any) -> int:
    """Bytes still allocated (tracemalloc) once `build()`'s result is built."""
    tracemalloc.start()
    try:
        kept = build()
        current, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert kept
    return current
