"""Watch lines, parsed with no I/O: events, bookmarks, errors, torn chunks."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest

from rollouts.kube import Gone, KubeError, Unavailable, WatchEvent, parse_watch_line, split_lines


def line(event_type: str, obj: Mapping[str, object]) -> bytes:
    return json.dumps({"type": event_type, "object": obj}).encode()


CM = {"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "a", "namespace": "ns", "resourceVersion": "17"}}


class TestParsing:
    @pytest.mark.parametrize("event_type", ["ADDED", "MODIFIED", "DELETED"])
    def test_object_events(self, event_type: str) -> None:
        event = parse_watch_line(line(event_type, CM))
        assert event == WatchEvent(event_type, CM)  # type: ignore[arg-type]
        assert event.resource_version == "17"

    def test_a_bookmark_carries_only_a_resource_version(self) -> None:
        event = parse_watch_line(line("BOOKMARK", {"kind": "ConfigMap",
                                                   "metadata": {"resourceVersion": "99"}}))
        assert (event.type, event.resource_version) == ("BOOKMARK", "99")

    def test_text_lines_parse_too(self) -> None:
        assert parse_watch_line(line("ADDED", CM).decode()).object == CM

    def test_an_error_410_raises_gone(self) -> None:
        status = {"kind": "Status", "status": "Failure", "code": 410, "reason": "Expired",
                  "message": "too old resource version: 1 (5)"}
        with pytest.raises(Gone) as caught:
            parse_watch_line(line("ERROR", status))
        assert caught.value.temporary
        assert caught.value.message == "too old resource version: 1 (5)"

    def test_other_errors_raise_their_mapped_error(self) -> None:
        status = {"kind": "Status", "code": 500, "message": "etcd is unhappy"}
        with pytest.raises(Unavailable, match="etcd is unhappy"):
            parse_watch_line(line("ERROR", status))

    def test_an_error_without_a_code_is_a_server_error(self) -> None:
        with pytest.raises(Unavailable):
            parse_watch_line(line("ERROR", {"message": "?"}))

    @pytest.mark.parametrize("bad", [
        b"not json", b"[1, 2]", b'{"type": "ADDED"}', b'{"type": "RENAMED", "object": {}}',
        b"\xff\xfe",
    ])
    def test_a_broken_line_means_a_broken_stream(self, bad: bytes) -> None:
        with pytest.raises(Unavailable) as caught:
            parse_watch_line(bad)
        assert isinstance(caught.value, KubeError) and caught.value.temporary


class TestSplitting:
    def test_lines_cut_anywhere_are_joined(self) -> None:
        chunks = [b'{"a"', b':1}\n{"b":2}\n{"c"', b"", b":3}\n"]
        assert list(split_lines(chunks)) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']

    def test_a_cut_inside_a_multibyte_character_is_harmless(self) -> None:
        text = '{"m":"gr\u00fc\u00df"}\n'.encode()
        chunks = [text[:8], text[8:9], text[9:]]
        assert [json.loads(x) for x in split_lines(chunks)] == [{"m": "gr\u00fc\u00df"}]

    def test_blank_lines_are_skipped_and_a_last_unterminated_line_is_kept(self) -> None:
        assert list(split_lines([b"\n\n{}\n  \n", b"{}"])) == [b"{}", b"{}"]

    def test_many_events_in_one_chunk(self) -> None:
        chunk = line("ADDED", CM) + b"\n" + line("DELETED", CM) + b"\n"
        events = [parse_watch_line(x) for x in split_lines([chunk])]
        assert [e.type for e in events] == ["ADDED", "DELETED"]
