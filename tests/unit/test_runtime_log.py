"""Log lines: JSON for machines, text for people, both naming the object they are about."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator

import pytest

from rollouts.runtime import JsonFormatter, TextFormatter, log_fields, logging_setup


def _record(message: str = "step %d done", *args: object, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord(
        "rollouts.controller", logging.INFO, __file__, 1, message, args or (2,), None
    )
    for field, value in extra.items():
        setattr(record, field, value)
    return record


@pytest.fixture
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    scheduler_level = logging.getLogger("apscheduler").level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.getLogger("apscheduler").setLevel(scheduler_level)


def test_given_an_object_in_the_extra_then_the_json_line_carries_kind_namespace_and_name() -> None:
    extra = log_fields(
        kind="Rollout", namespace="shop", name="web", controller="rollouts", key="shop/web"
    )
    line = json.loads(JsonFormatter().format(_record(**extra)))
    assert line["msg"] == "step 2 done"
    assert line["level"] == "info"
    assert line["logger"] == "rollouts.controller"
    assert line["ts"].endswith("Z")
    assert {k: line[k] for k in ("kind", "namespace", "name", "controller", "key")} == {
        "kind": "Rollout",
        "namespace": "shop",
        "name": "web",
        "controller": "rollouts",
        "key": "shop/web",
    }


def test_given_object_name_in_a_plain_extra_then_it_is_written_as_name() -> None:
    line = json.loads(JsonFormatter().format(_record(kind="Rollout", object_name="web")))
    assert line["name"] == "web"
    assert "object_name" not in line


def test_given_other_extra_fields_then_they_are_kept_and_made_json_safe() -> None:
    line = json.loads(JsonFormatter().format(_record(delay=0.4, owner=object())))
    assert line["delay"] == 0.4
    assert line["owner"].startswith("<object object")


def test_given_an_exception_then_the_json_line_carries_its_traceback() -> None:
    try:
        raise RuntimeError("api server gone")
    except RuntimeError:
        record = _record()
        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert "RuntimeError: api server gone" in line["error"]


def test_text_lines_read_message_first_then_the_context() -> None:
    text = TextFormatter().format(_record(**log_fields(namespace="shop", name="web")))
    assert "INFO" in text
    assert "rollouts.controller: step 2 done" in text
    assert text.endswith("namespace=shop name=web")


def test_log_fields_leaves_out_what_was_not_given() -> None:
    assert log_fields(kind="Rollout") == {"kind": "Rollout"}


@pytest.mark.usefixtures("restore_root_logger")
def test_given_json_setup_when_logging_then_each_record_is_one_json_line() -> None:
    stream = io.StringIO()
    logging_setup("json", "info", stream=stream)
    logging.getLogger("rollouts.test").info(
        "promoted", extra=log_fields(kind="Rollout", namespace="shop", name="web")
    )
    logging.getLogger("rollouts.test").debug("not shown at info")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["name"] == "web"


@pytest.mark.usefixtures("restore_root_logger")
def test_given_setup_called_twice_then_only_its_own_handler_is_replaced() -> None:
    root = logging.getLogger()
    others = list(root.handlers)
    first = logging_setup("text", logging.INFO, stream=io.StringIO())
    second = logging_setup("json", logging.DEBUG, stream=io.StringIO())
    assert first not in root.handlers
    assert second in root.handlers
    assert all(handler in root.handlers for handler in others)


@pytest.mark.usefixtures("restore_root_logger")
def test_given_info_level_then_the_scheduler_is_held_at_warning() -> None:
    logging_setup("text", "info", stream=io.StringIO())
    assert logging.getLogger("apscheduler").level == logging.WARNING


def test_unknown_formats_and_levels_are_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="'text' or 'json'"):
        logging_setup("yaml", stream=io.StringIO())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="debug, info"):
        logging_setup("text", "loud", stream=io.StringIO())
