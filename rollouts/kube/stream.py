"""`WatchStream`: the events of one open watch response, closable from any thread.

`KubeClient.watch` opens the response; this class reads its chunks, cuts them into lines
(`split_lines`) and parses each (`parse_watch_line`). `close()` shuts the socket down, so
an `Informer` blocked in a read on its own thread wakes up at once when it is stopped.
Transport failures become `Unavailable`, described without any credential.
"""

from __future__ import annotations

import socket
from collections.abc import Generator, Iterator
from contextlib import suppress
from typing import Any

import urllib3

from rollouts.kube.errors import KubeError, Unavailable, one_line
from rollouts.kube.watch import WatchEvent, parse_watch_line, split_lines

__all__ = ["WatchStream", "describe_transport_error"]


class WatchStream(Iterator[WatchEvent]):
    """The events of one watch; `close()` (from any thread) ends the iteration at once."""

    def __init__(self, response: Any, description: str) -> None:
        self._response = response  # the urllib3 response, streamed
        self._description = description
        self._closed = False
        self._events = self._generate()

    def __iter__(self) -> WatchStream:
        return self

    def __next__(self) -> WatchEvent:
        return next(self._events)

    def __enter__(self) -> WatchStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        # Shutting the socket down wakes a read blocked in another thread with EOF.
        with suppress(Exception):
            self._response.shutdown()
        try:
            self._events.close()
        except ValueError:  # being iterated in another thread, which cleans up itself
            return
        self._release()

    def _generate(self) -> Generator[WatchEvent, None, None]:
        try:
            for line in split_lines(self._response.stream(amt=None, decode_content=True)):
                if self._closed:
                    return
                yield parse_watch_line(line)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if self._closed:
                return
            raise Unavailable(
                f"watch of {self._description} broke: {describe_transport_error(exc)}"
            ) from None
        except KubeError:
            if self._closed:  # a line torn by close() is not an error
                return
            raise
        finally:
            self._release()

    def _release(self) -> None:
        with suppress(Exception):
            if self._closed:
                self._response.close()
            self._response.release_conn()


def describe_transport_error(exc: BaseException) -> str:
    """A short, credential-free description of a transport failure."""
    if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
        return describe_transport_error(exc.reason)
    text = str(exc)
    if "refused" in text.lower():  # before timeouts: NewConnectionError is a timeout class
        return "connection refused"
    if isinstance(exc, urllib3.exceptions.TimeoutError | TimeoutError | socket.timeout):
        return "timed out"
    if isinstance(exc, urllib3.exceptions.ProtocolError):
        return "connection broken"
    return one_line(f"{type(exc).__name__}: {text}", 200)
