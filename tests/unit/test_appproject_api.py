"""The AppProject model, its lint rules, and the glob and cron dialects they rest on.

An Argo CD project manifest must parse unchanged and lint clean; mistakes Argo CD would
refuse (or that would make a rule match nothing) are errors naming the field; Argo fields
we do not use are warnings.
"""

from __future__ import annotations

import time

import pytest

from rollouts.api import KINDS, OTHER_ARGO_KINDS, AppProject, check_object, dump_object
from rollouts.api.cron import CronError, parse_cron
from rollouts.api.globs import MAX_GLOB_ALTERNATIVES, Dialect, GlobError, compile_glob, glob_match
from rollouts.lint import lint_text

ARGO_PROJECT = """\
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: my-project
  namespace: argocd
  finalizers:
  - resources-finalizer.argocd.argoproj.io
spec:
  description: Example Project
  sourceRepos:
  - '*'
  destinations:
  - namespace: guestbook
    server: https://kubernetes.default.svc
    name: in-cluster
  - namespace: guestbook-*
    server: https://kubernetes.default.svc
  clusterResourceWhitelist:
  - group: ''
    kind: Namespace
  clusterResourceBlacklist:
  - group: ''
    kind: Namespace
    name: kube-*
  namespaceResourceBlacklist:
  - group: ''
    kind: ResourceQuota
  namespaceResourceWhitelist:
  - group: 'apps'
    kind: Deployment
  orphanedResources:
    warn: false
    ignore:
    - group: ''
      kind: ConfigMap
      name: '*-config'
  syncWindows:
  - kind: allow
    schedule: '10 1 * * *'
    duration: 1h
    applications: ['*-prod']
    manualSync: true
  - kind: deny
    schedule: '0 22 * * *'
    duration: 1h
    namespaces: [default]
    timeZone: Europe/Amsterdam
    andOperator: false
    description: nightly freeze
  sourceNamespaces: [team-*, '/^ci-[0-9]+$/']
"""


class TestAnArgoCdProject:
    def test_parses_and_lints_clean(self) -> None:
        report = lint_text(ARGO_PROJECT, "project.yaml")
        assert report.errors == 0 and report.warnings == 0, report.problems
        assert report.kinds == {"AppProject": 1}

    def test_round_trips_in_the_user_s_shape(self) -> None:
        import yaml
        doc = yaml.safe_load(ARGO_PROJECT)
        result = check_object(doc)
        assert isinstance(result.obj, AppProject)
        assert dump_object(result.obj) == doc

    def test_is_one_of_our_kinds_now(self) -> None:
        assert "AppProject" in KINDS and "AppProject" not in OTHER_ARGO_KINDS

    def test_argo_server_fields_are_warnings_not_errors(self) -> None:
        text = ARGO_PROJECT.replace("  description: Example Project\n", (
            "  description: Example Project\n"
            "  roles:\n  - name: ci\n    policies: ['p, proj:my-project:ci, applications, "
            "sync, my-project/*, allow']\n"
            "  signatureKeys:\n  - keyID: 4AEE18F83AFDEB23\n"))
        report = lint_text(text, "project.yaml")
        assert report.errors == 0
        assert sorted(p.path for p in report.problems) == ["spec.roles", "spec.signatureKeys"]

    def test_status_written_by_argo_cd_is_kept(self) -> None:
        text = ARGO_PROJECT + "status:\n  jwtTokensByRole:\n    ci:\n      items: [{iat: 1}]\n"
        assert lint_text(text, "project.yaml").errors == 0


@pytest.mark.parametrize(("patch", "path", "needle"), [
    ({"sourceRepos": ["https://github.com/[acme/*"]}, "spec.sourceRepos[0]", "never closed"),
    ({"destinations": [{"server": "*", "namespace": "{a,b"}]},
     "spec.destinations[0].namespace", "never closed"),
    ({"clusterResourceWhitelist": [{"group": "[", "kind": "*"}]},
     "spec.clusterResourceWhitelist[0].group", "never closed"),
    ({"sourceNamespaces": ["/([/"]}, "spec.sourceNamespaces[0]", "bad regular expression"),
    ({"description": "x" * 256}, "spec.description", "at most 255"),
    ({"syncWindows": [{"kind": "deny", "schedule": "0 0 * * *", "duration": "1h"}]},
     "spec.syncWindows[0]", "applies to nothing"),
    ({"destinatons": []}, "spec.destinatons", "did you mean 'destinations'"),
])
def test_mistakes_are_errors_naming_the_field(patch: dict[str, object], path: str,
                                              needle: str) -> None:
    result = check_object({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                           "metadata": {"name": "p"}, "spec": patch})
    (problem,) = result.errors
    assert problem.path == path and needle in problem.message


def test_likely_mistakes_are_warnings() -> None:
    result = check_object({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
                           "metadata": {"name": "p"}, "spec": {
                               "sourceRepos": ["*", "*"],
                               "destinations": [{"namespace": "x"}, {"server": "*"}]}})
    assert not result.errors
    assert sorted(p.path for p in result.warnings) == [
        "spec.destinations[0]", "spec.destinations[1].namespace", "spec.sourceRepos[1]"]


class TestGlobs:
    @pytest.mark.parametrize(("pattern", "text", "separators", "expected"), [
        ("*", "", "", True),
        ("a*", "a/b", "", True),
        ("a*", "a/b", "/", False),
        ("a**", "a/b", "/", True),
        ("a?c", "a/c", "/", False),
        ("[a-c]x", "bx", "", True),
        ("[!a-c]x", "bx", "", False),
        ("{web,api}-*", "api-1", "", True),
        ("{web,api}-*", "db-1", "", False),
        ("{a,b{c,d}}", "bd", "", True),
        ("\\*", "*", "", True),
        ("\\*", "x", "", False),
    ])
    def test_gobwas_dialect(self, pattern: str, text: str, separators: str,
                            expected: bool) -> None:
        assert glob_match(pattern, text, Dialect.GOBWAS, separators) is expected

    def test_filepath_dialect_negates_with_caret_and_has_no_braces(self) -> None:
        assert glob_match("[^a]b", "cb", Dialect.FILEPATH, "/")
        assert not glob_match("[^a]b", "ab", Dialect.FILEPATH, "/")
        assert glob_match("{a,b}", "{a,b}", Dialect.FILEPATH, "/")

    def test_too_many_alternatives_are_refused(self) -> None:
        with pytest.raises(GlobError, match=str(MAX_GLOB_ALTERNATIVES)):
            compile_glob("{a,b}" * 9)

    def test_a_hostile_pattern_matches_in_linear_time(self) -> None:
        started = time.monotonic()
        assert not glob_match("*a" * 40 + "*b", "a" * 5_000)
        assert time.monotonic() - started < 5  # backtracking would take longer than the universe


class TestCron:
    def test_fields_expand_like_robfig_cron(self) -> None:
        schedule = parse_cron("*/15 9-17 1,15 JAN-MAR mon-fri")
        assert schedule.minutes == {0, 15, 30, 45}
        assert schedule.hours == set(range(9, 18))
        assert schedule.days == {1, 15} and schedule.months == {1, 2, 3}
        assert schedule.weekdays == {1, 2, 3, 4, 5} and schedule.day_fields_or

    def test_n_slash_step_runs_to_the_maximum_and_question_mark_is_star(self) -> None:
        schedule = parse_cron("50/5 ? * * ?")
        assert schedule.minutes == {50, 55} and len(schedule.hours) == 24
        assert not schedule.day_fields_or

    @pytest.mark.parametrize("text", ["", "* * * *", "* * * * * *", "@hourly", "60 * * * *",
                                      "* * 0 * *", "* * * 13 *", "* * * * 7", "*/0 * * * *",
                                      "5-1 * * * *", "a * * * *", "CRON_TZ=UTC 0 0 * * *"])
    def test_what_argo_cd_refuses(self, text: str) -> None:
        with pytest.raises(CronError):
            parse_cron(text)
