"""index.yaml parsing, the entry `helm pull --version` picks, and chart URL resolution."""

from __future__ import annotations

import pytest

from reconciler.charts.index import IndexProblem, parse_index, pick_entry
from reconciler.charts.urls import (
    ChartURLProblem,
    chart_repository,
    chart_url,
    index_url,
    oci_schemes,
    same_origin,
)
from reconciler.source_url import RepoURLProblem, parse_repo_url

DIGEST = "a" * 64
INDEX = f"""
apiVersion: v1
entries:
  guestbook:
    - version: 1.10.0
      urls: [guestbook-1.10.0.tgz]
      digest: {DIGEST}
    - version: 1.9.0
      urls: ["https://cdn.example.com/guestbook-1.9.0.tgz"]
    - version: 2.0.0-rc.1
      urls: [charts/guestbook-2.0.0-rc.1.tgz]
      digest: not-a-digest
    - version: 1.2
      urls: [guestbook-1.2.tgz]
    - name: no-urls
      version: 3.0.0
    - urls: [no-version.tgz]
    - just a string
  other: not-a-list
generated: "2026-12-01T00:00:00Z"
""".encode()


class TestParsing:
    def test_versions_stay_strings_as_helm_reads_them(self) -> None:
        entries = parse_index(INDEX).chart("guestbook")
        # YAML would read 1.10.0 fine but 1.2 as the float 1.2 and 1.10 as 1.1.
        assert [e.version for e in entries] == ["1.10.0", "1.9.0", "2.0.0-rc.1", "1.2"]

    def test_digests_are_kept_only_when_they_are_sha256(self) -> None:
        entries = {e.version: e for e in parse_index(INDEX).chart("guestbook")}
        assert entries["1.10.0"].digest == DIGEST
        assert entries["2.0.0-rc.1"].digest is None
        assert entries["1.9.0"].digest is None

    def test_a_missing_chart_is_named(self) -> None:
        index = parse_index(INDEX)
        with pytest.raises(IndexProblem, match="chart 'nginx' is not in the repository's index"):
            index.chart("nginx")
        with pytest.raises(IndexProblem, match="chart 'other' is not in"):
            index.chart("other")

    @pytest.mark.parametrize(("data", "message"), [
        (b"entries: [", "not valid YAML at line"),
        (b"<html>not found</html>", "no 'entries' mapping"),
        (b"apiVersion: v1\n", "no 'entries' mapping"),
        (b"- a\n- b\n", "no 'entries' mapping"),
    ])
    def test_what_is_not_an_index(self, data: bytes, message: str) -> None:
        with pytest.raises(IndexProblem, match=message):
            parse_index(data)

    def test_aliases_are_not_expanded_into_work(self) -> None:
        # Every chart aliases one list: only the asked-for chart is ever walked.
        items = ",".join(["{version: 1.0.0, urls: [a.tgz]}"] * 1000)
        charts = "\n".join(f"  c{i}: *all" for i in range(5000))
        data = f"shared: &all [{items}]\nentries:\n  first: *all\n{charts}\n".encode()
        index = parse_index(data)
        assert len(index.chart("c42")) == 1000


class TestPickEntry:
    def test_the_exact_spelling_wins(self) -> None:
        entries = parse_index(INDEX).chart("guestbook")
        assert pick_entry(entries, "1.2", "guestbook").urls == ("guestbook-1.2.tgz",)

    def test_a_version_not_written_so_is_matched_as_a_constraint(self) -> None:
        entries = parse_index(INDEX).chart("guestbook")
        assert pick_entry(entries, "1.x", "guestbook").version == "1.10.0"
        assert pick_entry(entries, "1.9", "guestbook").version == "1.9.0"

    def test_an_absent_version_is_named(self) -> None:
        entries = parse_index(INDEX).chart("guestbook")
        with pytest.raises(IndexProblem, match=r"chart 'guestbook' has no version '7.0.0'"):
            pick_entry(entries, "7.0.0", "guestbook")


class TestURLs:
    @pytest.mark.parametrize(("repo", "listed", "resolved"), [
        ("https://charts.example.com/stable", "guestbook-1.0.0.tgz",
         "https://charts.example.com/stable/guestbook-1.0.0.tgz"),
        ("https://charts.example.com/stable/", "charts/g.tgz",
         "https://charts.example.com/stable/charts/g.tgz"),
        ("https://charts.example.com/stable", "/top/g.tgz", "https://charts.example.com/top/g.tgz"),
        ("https://charts.example.com/stable", "../g.tgz", "https://charts.example.com/g.tgz"),
        ("https://charts.example.com", "g.tgz", "https://charts.example.com/g.tgz"),
        ("https://charts.example.com/s?token=x", "g.tgz",
         "https://charts.example.com/s/g.tgz?token=x"),
        ("https://charts.example.com/stable", "https://cdn.example.net/g.tgz",
         "https://cdn.example.net/g.tgz"),
        ("http://127.0.0.1:8080/repo", "g-1.0.0.tgz", "http://127.0.0.1:8080/repo/g-1.0.0.tgz"),
    ])
    def test_chart_urls_resolve_as_helm_resolves_them(self, repo: str, listed: str,
                                                      resolved: str) -> None:
        assert chart_url(chart_repository(repo), listed) == resolved

    @pytest.mark.parametrize("listed", ["file:///etc/passwd", "ftp://h/g.tgz", "gopher://h/",
                                        "https:///g.tgz", "", "g .tgz"])
    def test_other_schemes_are_not_fetched(self, listed: str) -> None:
        with pytest.raises(ChartURLProblem):
            chart_url(chart_repository("https://charts.example.com"), listed)

    def test_the_index_sits_under_the_repository(self) -> None:
        assert index_url(chart_repository("https://h/a/")) == "https://h/a/index.yaml"
        assert index_url(chart_repository("https://h")) == "https://h/index.yaml"
        assert index_url(chart_repository("https://u:p@h/a?x=1")) == "https://h/a/index.yaml?x=1"

    @pytest.mark.parametrize(("url", "kind", "where", "path"), [
        ("https://Charts.Example.com:443/stable", "http", "https://charts.example.com/stable",
         "/stable"),
        ("oci://ghcr.io/acme/charts", "oci", "oci://ghcr.io/acme/charts", "acme/charts"),
        ("ghcr.io/acme/charts", "oci", "oci://ghcr.io/acme/charts", "acme/charts"),
        ("127.0.0.1:5000/charts/", "oci", "oci://127.0.0.1:5000/charts", "charts"),
        ("oci://localhost:5000", "oci", "oci://localhost:5000/", ""),
    ])
    def test_repository_forms(self, url: str, kind: str, where: str, path: str) -> None:
        repo = chart_repository(url)
        assert (repo.kind, repo.cache_key(), repo.path) == (kind, where, path)

    def test_enable_oci_makes_an_https_url_a_registry(self) -> None:
        repo = chart_repository("https://registry.example.com/charts", enable_oci=True)
        assert (repo.kind, repo.path, repo.oci_name("web")) == ("oci", "charts", "charts/web")

    @pytest.mark.parametrize("url", ["ssh://h/x", "file:///tmp/charts", "git@h:x", "",
                                     "oci://u:p@h/x", "oci://h/x?y", "https://h/../x",
                                     "oci://h/a/../b", "oci://-h/x", "https://h/a b"])
    def test_refused_repository_urls(self, url: str) -> None:
        with pytest.raises(ChartURLProblem):
            chart_repository(url)

    @pytest.mark.parametrize("url", ["https://h/a/%2e%2e/b", "https://h/a/%2E/b",
                                     "oci://h/a/%2e%2e/b"])
    def test_encoded_dot_segments_are_refused_as_for_git(self, url: str) -> None:
        with pytest.raises(ChartURLProblem, match="path segment"):
            chart_repository(url)
        with pytest.raises(RepoURLProblem, match="path segment"):
            parse_repo_url(url.replace("oci://", "https://"))

    def test_an_encoded_slash_names_a_gitlab_project(self) -> None:
        url = "https://gitlab.example.com/api/v4/projects/acme%2Fcharts/packages/helm/stable"
        assert chart_repository(url).path == "/api/v4/projects/acme%2Fcharts/packages/helm/stable"

    def test_oci_names_are_checked(self) -> None:
        with pytest.raises(ChartURLProblem, match="not a valid OCI repository name"):
            chart_repository("oci://h/Charts").oci_name("web")

    def test_credentials_go_to_the_repository_origin_only(self) -> None:
        repo = chart_repository("https://charts.example.com/stable")
        assert same_origin("https://charts.example.com/other/g.tgz", repo)
        assert same_origin("https://charts.example.com:443/g.tgz", repo)
        assert not same_origin("https://cdn.example.com/g.tgz", repo)
        assert not same_origin("http://charts.example.com/g.tgz", repo)
        assert not same_origin("https://charts.example.com:8443/g.tgz", repo)

    def test_plain_http_only_for_local_or_insecure_registries(self) -> None:
        local = chart_repository("oci://127.0.0.1:5000/charts")
        remote = chart_repository("oci://registry.example.com/charts")
        assert oci_schemes(local, insecure=False, force_http=False) == ("https", "http")
        assert oci_schemes(remote, insecure=False, force_http=False) == ("https",)
        assert oci_schemes(remote, insecure=True, force_http=False) == ("https", "http")
        assert oci_schemes(remote, insecure=True, force_http=True) == ("http",)
        with pytest.raises(ChartURLProblem, match="set insecure"):
            oci_schemes(remote, insecure=False, force_http=True)
        with pytest.raises(ChartURLProblem, match="plain HTTP to a registry that is not on"):
            oci_schemes(chart_repository("http://registry.example.com/c", enable_oci=True),
                        insecure=False, force_http=False)
