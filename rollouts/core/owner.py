"""The owner reference of objects a Rollout makes (ReplicaSets, AnalysisRuns, router
objects), and the test for "this Rollout controls that object". Pure."""

from __future__ import annotations

from typing import Any

ROLLOUT_API_VERSION = "argoproj.io/v1alpha1"


def owner_reference(rollout: dict[str, Any]) -> dict[str, Any]:
    """The controller owner reference pointing at `rollout` (an object as the API sends it)."""
    meta = rollout.get("metadata", {})
    return {
        "apiVersion": ROLLOUT_API_VERSION,
        "kind": "Rollout",
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controlled_by(obj: dict[str, Any], uid: str | None) -> bool:
    """Whether `obj`'s controller owner reference names the object with `uid`."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return bool(uid) and any(ref.get("controller") is True and ref.get("uid") == uid
                             for ref in refs)
