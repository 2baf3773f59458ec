"""Chart archives from a repository are hostile input: what unpack_chart refuses."""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
from pathlib import Path

import pytest

from reconciler.charts.unpack import UnpackLimits, UnpackProblem, unpack_chart

CHART_YAML = b"apiVersion: v2\nname: web\nversion: 1.0.0\n"


def tgz(*members: tuple[tarfile.TarInfo, bytes | None], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def file(name: str, data: bytes = b"x: 1\n", mode: int = 0o644) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, data


def special(name: str, kind: bytes, target: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def a_chart(*extra: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    return tgz(file("web/Chart.yaml", CHART_YAML), file("web/templates/cm.yaml"), *extra)


class TestAGoodChart:
    def test_unpacks_into_its_top_directory_with_safe_modes(self, tmp_path: Path) -> None:
        archive = a_chart(file("web/values.yaml", b"replicas: 1\n", mode=0o4777),
                          file("web/charts/dep/Chart.yaml", CHART_YAML))
        chart = unpack_chart(archive, tmp_path, chart="web")
        assert chart == tmp_path / "web"
        assert (chart / "Chart.yaml").read_bytes() == CHART_YAML
        assert (chart / "charts/dep/Chart.yaml").is_file()
        assert stat.S_IMODE((chart / "values.yaml").stat().st_mode) == 0o644

    def test_the_chart_named_is_chosen_among_several_top_directories(self, tmp_path: Path
                                                                     ) -> None:
        archive = tgz(file("other/Chart.yaml", CHART_YAML), file("web/Chart.yaml", CHART_YAML))
        assert unpack_chart(archive, tmp_path, chart="charts/web") == tmp_path / "web"

    def test_a_chart_at_the_archive_root_is_accepted(self, tmp_path: Path) -> None:
        archive = tgz(file("Chart.yaml", CHART_YAML), file("templates/a.yaml"))
        assert unpack_chart(archive, tmp_path, chart="web") == tmp_path

    def test_dot_slash_names_are_fine(self, tmp_path: Path) -> None:
        archive = tgz(file("./web/Chart.yaml", CHART_YAML))
        assert (unpack_chart(archive, tmp_path, chart="web") / "Chart.yaml").is_file()


class TestHostileArchives:
    @pytest.mark.parametrize(("member", "message"), [
        (file("/etc/cron.d/evil"), "absolute path '/etc/cron.d/evil'"),
        (file("web/../../evil"), r"'\.\.' path 'web/\.\./\.\./evil'"),
        (file("../evil"), r"'\.\.' path"),
        (file("web\\..\\evil"), "unusable entry name"),
        (special("web/link", tarfile.SYMTYPE, "/etc/passwd"), "a link 'web/link'"),
        (special("web/hard", tarfile.LNKTYPE, "web/Chart.yaml"), "a link 'web/hard'"),
        (special("web/fifo", tarfile.FIFOTYPE), "a special file 'web/fifo'"),
        (special("web/dev", tarfile.CHRTYPE), "a special file 'web/dev'"),
        (file("/".join(["d"] * 80) + "/f"), "unusable entry name"),
    ])
    def test_refused_entries(self, tmp_path: Path, member: tuple[tarfile.TarInfo, bytes | None],
                             message: str) -> None:
        with pytest.raises(UnpackProblem, match=message):
            unpack_chart(a_chart(member), tmp_path / "out", chart="web")
        assert not (tmp_path / "evil").exists()

    def test_a_symlink_then_a_file_through_it_never_writes_outside(self, tmp_path: Path) -> None:
        outside = tmp_path / "outside"
        outside.mkdir()
        archive = a_chart(special("web/escape", tarfile.SYMTYPE, str(outside)),
                          file("web/escape/pwned", b"owned"))
        (tmp_path / "out").mkdir()
        with pytest.raises(UnpackProblem):
            unpack_chart(archive, tmp_path / "out", chart="web")
        assert list(outside.iterdir()) == []

    def test_the_same_path_twice_is_refused(self, tmp_path: Path) -> None:
        archive = a_chart(file("web/templates/cm.yaml", b"evil: 1\n"))
        with pytest.raises(UnpackProblem, match=r"holds 'web/templates/cm\.yaml' twice"):
            unpack_chart(archive, tmp_path, chart="web")

    def test_a_gzip_bomb_stops_at_the_limit(self, tmp_path: Path) -> None:
        big = b"\0" * (8 * 1024 * 1024)  # compresses to ~8 KiB
        archive = a_chart(file("web/templates/big.yaml", big))
        assert len(archive) < 100_000
        with pytest.raises(UnpackProblem, match="unpacks to more than 1048576 bytes"):
            unpack_chart(archive, tmp_path, chart="web",
                         limits=UnpackLimits(max_bytes=1024 * 1024))

    def test_a_huge_pax_header_counts_against_the_limit(self, tmp_path: Path) -> None:
        info, data = file("web/templates/x.yaml")
        info.pax_headers = {"comment": "y" * (2 * 1024 * 1024)}
        with pytest.raises(UnpackProblem, match="unpacks to more than"):
            unpack_chart(a_chart((info, data)), tmp_path, chart="web",
                         limits=UnpackLimits(max_bytes=1024 * 1024))

    def test_too_many_entries(self, tmp_path: Path) -> None:
        members = [file(f"web/templates/{i}.yaml") for i in range(30)]
        with pytest.raises(UnpackProblem, match="more than 20 entries"):
            unpack_chart(a_chart(*members), tmp_path, chart="web",
                         limits=UnpackLimits(max_files=20))

    @pytest.mark.parametrize("archive", [
        b"not gzip at all",
        gzip.compress(b"not a tar archive" * 100),
        b"",
    ])
    def test_garbage_is_not_a_chart(self, tmp_path: Path, archive: bytes) -> None:
        with pytest.raises(UnpackProblem):
            unpack_chart(archive, tmp_path, chart="web")

    def test_a_truncated_archive_is_refused(self, tmp_path: Path) -> None:
        archive = a_chart(file("web/values.yaml", bytes(range(256)) * 400))
        with pytest.raises(UnpackProblem, match=r"not a valid \.tgz"):
            unpack_chart(archive[: len(archive) // 2], tmp_path, chart="web")

    def test_no_chart_yaml_is_not_a_chart(self, tmp_path: Path) -> None:
        with pytest.raises(UnpackProblem, match=r"no top-level directory with a Chart\.yaml"):
            unpack_chart(tgz(file("web/values.yaml")), tmp_path, chart="web")
