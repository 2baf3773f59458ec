"""Read-your-writes over an informer cache (rollouts.runtime.written)."""

from __future__ import annotations

from rollouts.runtime import WrittenVersions, resource_version


def _obj(version: str) -> dict[str, object]:
    return {"metadata": {"resourceVersion": version}}


def test_a_cache_older_than_our_write_is_behind_until_it_catches_up() -> None:
    written = WrittenVersions()
    assert not written.cache_is_behind("ns/a", _obj("5"))
    written.record("ns/a", _obj("7"))
    assert written.cache_is_behind("ns/a", _obj("6"))
    assert not written.cache_is_behind("ns/a", _obj("7"))
    # caught up once: the record is gone, an older copy no longer waits
    assert not written.cache_is_behind("ns/a", _obj("6"))


def test_forget_drops_the_record_and_opaque_versions_count_as_zero() -> None:
    written = WrittenVersions()
    written.record("ns/a", _obj("9"))
    written.forget("ns/a")
    assert not written.cache_is_behind("ns/a", _obj("1"))
    assert resource_version({"metadata": {"resourceVersion": "abc"}}) == 0
    assert resource_version({}) == 0
