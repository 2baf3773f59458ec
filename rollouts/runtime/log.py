"""Logging setup for the controller process: text for people, JSON lines for machines.

`rollouts controller --log-format json` calls `logging_setup("json", level)`. Every
record then becomes one JSON object per line with `ts`, `level`, `logger`, `msg`, the
object it is about (`kind`, `namespace`, `name`), the `controller` and queue `key`
when given, any other `extra` fields, and `error` (the traceback) when there is one:

    {"ts": "2024-05-01T12:00:00.123Z", "level": "warning", "logger":
     "rollouts.runtime.manager", "msg": "reconcile failed, retrying in 0.05 s",
     "controller": "rollouts", "key": "shop/web", "namespace": "shop", "name": "web"}

One wrinkle: the standard library refuses `extra={"name": ...}` (`name` is the logger
name on every `LogRecord`). Pass the object's name as `object_name`, or build the
extra with `log_fields(kind=..., namespace=..., name=...)`; the formatters print it
as `name`.

The text format cannot be forged by what it logs: messages and fields often carry
strings from outside (a webhook's `ref`, an object's name, a Git error), so control
characters (`\n`, `\r`, ESC, every other C0 and C1 character, U+2028/U+2029) are
written as escapes (`\n`, `\x1b`, `\u2028`); a field value with a space, `"` or `=`
is quoted (`ref="main x=1"`); and the lines of a traceback are indented, so each line
that starts at column 0 is one record. The JSON format escapes by construction.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

__all__ = ["JsonFormatter", "TextFormatter", "escape_control", "log_fields", "logging_setup"]

LogFormat = Literal["text", "json"]

# Context fields, in the order they are printed; `object_name` is printed as `name`.
_CONTEXT_FIELDS = ("controller", "key", "kind", "namespace", "object_name")
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)
# Loggers of libraries that say too much at INFO (APScheduler logs every job run).
_CHATTY_LOGGERS = ("apscheduler",)
# What a text line must not contain raw: C0, DEL, C1 and the Unicode line separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_NEEDS_QUOTES = re.compile(r'[\s"=]')
_CONTINUATION = "    "  # indent of traceback lines in the text format


def log_fields(
    *,
    kind: str | None = None,
    namespace: str | None = None,
    name: str | None = None,
    controller: str | None = None,
    key: str | None = None,
    **more: Any,
) -> dict[str, Any]:
    """An `extra=` dict naming the object a log line is about (None values left out)."""
    fields: dict[str, Any] = {
        "kind": kind,
        "namespace": namespace,
        "object_name": name,
        "controller": controller,
        "key": key,
        **more,
    }
    return {k: v for k, v in fields.items() if v is not None}


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """The record's context and extra fields, context first, `object_name` as `name`."""
    found: dict[str, Any] = {}
    for field in _CONTEXT_FIELDS:
        value = getattr(record, field, None)
        if value is not None:
            found["name" if field == "object_name" else field] = value
    for field, value in vars(record).items():
        if field not in _STANDARD_ATTRS and field not in _CONTEXT_FIELDS:
            found.setdefault(field, value)
    return found


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record; values that JSON cannot hold are written as `str()`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for field, value in _extras(record).items():
            line.setdefault(field, value)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["error"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def escape_control(text: str) -> str:
    """`text` with every control character written as an escape (`\\n`, `\\x1b`)."""
    return _CONTROL.sub(_escape_one, text)


def _escape_one(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED_ESCAPES.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def _field_value(value: Any) -> str:
    text = escape_control(str(value))
    if text and not _NEEDS_QUOTES.search(text):
        return text
    return '"' + text.replace('"', '\\"') + '"'


def _indented(block: str) -> str:
    return "\n".join(_CONTINUATION + escape_control(line) for line in block.splitlines())


class TextFormatter(logging.Formatter):
    """`ts LEVEL logger: msg key=value ...`, then the traceback, if any, indented.

    Control characters in the message and fields are escaped (see the module docstring).
    """

    def format(self, record: logging.LogRecord) -> str:
        message = escape_control(record.getMessage())
        text = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {message}"
        pairs = " ".join(
            f"{escape_control(field)}={_field_value(value)}"
            for field, value in _extras(record).items()
        )
        if pairs:
            text = f"{text}  {pairs}"
        if record.exc_info:
            text = f"{text}\n{_indented(self.formatException(record.exc_info))}"
        elif record.exc_text:
            text = f"{text}\n{_indented(record.exc_text)}"
        if record.stack_info:
            text = f"{text}\n{_indented(self.formatStack(record.stack_info))}"
        return text


class _OurHandler(logging.StreamHandler[TextIO]):
    """Marks the handler `logging_setup` installed, so a second call replaces only it."""


def logging_setup(
    format: LogFormat = "text",
    level: int | str = logging.INFO,
    *,
    stream: TextIO | None = None,
) -> logging.Handler:
    """Send all logs to `stream` (stderr) in `format` at `level`; returns the handler.

    Calling it again replaces the handler it installed before (and no other handler).
    Chatty libraries (APScheduler) are held at WARNING unless `level` is DEBUG.
    """
    if format not in ("text", "json"):
        raise ValueError(f"unknown log format {format!r}: use 'text' or 'json'")
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}: use debug, info, warning or error")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, _OurHandler):
            root.removeHandler(handler)
    handler = _OurHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(numeric)
    chatty_level = numeric if numeric <= logging.DEBUG else max(numeric, logging.WARNING)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(chatty_level)
    return handler
