"""Unpack a chart archive (`.tgz`) from a repository without trusting it.

`unpack_chart(archive, destination, chart=...)` writes the archive's regular files and
directories under `destination` and returns the chart's directory (the archive's one
top-level directory holding `Chart.yaml`, as `helm package` makes it). Refused, with an
`UnpackProblem` and nothing left behind that could be used:

- absolute names, `..` segments, backslashes, NUL, empty or over-long names, deep paths;
- symbolic and hard links, devices, FIFOs (only files and directories are written);
- the same path twice (a later entry could otherwise replace a checked one);
- more than `max_files` entries or `max_bytes` of data, counted on the decompressed
  stream itself, so a gzip bomb or a giant tar header stops at the limit, not at the end.

Files are written 0644 and directories 0755 whatever the archive says (no executable,
setuid or world-writable bits), with `O_EXCL | O_NOFOLLOW`. The caller unpacks into a
fresh directory and renames it into place (`reconciler.charts.source`).
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

__all__ = ["MAX_UNPACKED_BYTES", "MAX_UNPACKED_FILES", "UnpackLimits", "UnpackProblem",
           "unpack_chart"]

MAX_UNPACKED_BYTES = 128 * 1024 * 1024
"""Most bytes a chart archive may unpack to (file data plus tar headers)."""
MAX_UNPACKED_FILES = 10_000
"""Most entries (files and directories) in a chart archive."""
_MAX_NAME = 1024
_MAX_DEPTH = 64


class UnpackProblem(ValueError):
    """The archive is refused or broken; one line naming the entry, safe to show."""


@dataclass(frozen=True)
class UnpackLimits:
    max_bytes: int = MAX_UNPACKED_BYTES
    max_files: int = MAX_UNPACKED_FILES


class _Bounded(io.RawIOBase):
    """The decompressed stream, refusing to give more than `limit` bytes in all."""

    def __init__(self, source: IO[bytes] | gzip.GzipFile, limit: int) -> None:
        self._source, self._limit, self.used = source, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        chunk = self._source.read(min(len(buffer), 1 << 16))
        self.used += len(chunk)
        if self.used > self._limit:
            raise UnpackProblem(f"the chart archive unpacks to more than {self._limit} bytes; "
                                "refused")
        buffer[: len(chunk)] = chunk
        return len(chunk)


def unpack_chart(archive: bytes, destination: Path, *, chart: str,
                 limits: UnpackLimits | None = None) -> Path:
    """Unpack `archive` into the empty directory `destination`; the chart directory."""
    limits = limits or UnpackLimits()
    stream = _Bounded(gzip.GzipFile(fileobj=io.BytesIO(archive)), limits.max_bytes)
    seen: set[str] = set()
    try:
        with tarfile.open(fileobj=io.BufferedReader(stream), mode="r|") as tar:
            for member in tar:
                if len(seen) >= limits.max_files:
                    raise UnpackProblem(f"the chart archive has more than {limits.max_files} "
                                        "entries; refused")
                name = _checked_name(member)
                if name in seen:
                    raise UnpackProblem(f"the chart archive holds '{name[:200]}' twice; refused")
                seen.add(name)
                _write(tar, member, destination, name)
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise UnpackProblem(f"the chart archive is not a valid .tgz ({_reason(error)})") from None
    return _chart_directory(destination, chart)


def _reason(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]


def _checked_name(member: tarfile.TarInfo) -> str:
    raw = member.name
    shown = raw[:200].encode("unicode_escape").decode()
    if not raw or len(raw) > _MAX_NAME or "\x00" in raw or "\\" in raw:
        raise UnpackProblem(f"the chart archive has an unusable entry name '{shown}'; refused")
    if raw.startswith("/"):
        raise UnpackProblem(f"the chart archive has an absolute path '{shown}'; refused")
    parts = [part for part in PurePosixPath(raw).parts if part not in ("", ".")]
    if any(part == ".." for part in raw.split("/")):
        raise UnpackProblem(f"the chart archive has a '..' path '{shown}'; refused")
    if not parts or len(parts) > _MAX_DEPTH:
        raise UnpackProblem(f"the chart archive has an unusable entry name '{shown}'; refused")
    if not (member.isfile() or member.isdir()):
        kind = "link" if member.issym() or member.islnk() else "special file"
        raise UnpackProblem(f"the chart archive has a {kind} '{shown}'; only files and "
                            "directories are allowed")
    return "/".join(parts)


def _write(tar: tarfile.TarFile, member: tarfile.TarInfo, destination: Path, name: str) -> None:
    target = destination.joinpath(*name.split("/"))
    if member.isdir():
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        return
    target.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    source = tar.extractfile(member)
    if source is None:
        raise UnpackProblem(f"the chart archive entry '{name[:200]}' cannot be read")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        descriptor = os.open(target, flags, 0o644)
    except FileExistsError:
        raise UnpackProblem(f"the chart archive holds '{name[:200]}' twice; refused") from None
    with os.fdopen(descriptor, "wb") as out:
        while chunk := source.read(1 << 16):
            out.write(chunk)


def _chart_directory(destination: Path, chart: str) -> Path:
    """The top-level directory holding Chart.yaml (named after the chart when several)."""
    candidates = sorted(path for path in destination.iterdir()
                        if path.is_dir() and (path / "Chart.yaml").is_file())
    if len(candidates) == 1:
        return candidates[0]
    wanted = chart.rstrip("/").rsplit("/", 1)[-1]
    for path in candidates:
        if path.name == wanted:
            return path
    if (destination / "Chart.yaml").is_file():
        return destination
    raise UnpackProblem("the chart archive has no top-level directory with a Chart.yaml; "
                        "is it a Helm chart?")
