"""`{{args.NAME}}` in a metric's scalar settings (count, interval, limits, timeouts).

Accepted by the models, `rollouts lint` and the CRD schemas while unresolved; resolved by
`analysis.args.substitute` before the state machine reads them; a value that is still not
valid after substitution is an `ArgsError` naming the metric, the setting and the value.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis.args import ArgsError, ResolvedArgs, setting_problems, substitute
from analysis.decide import plan_run
from analysis.decide_rules import read_rules
from rollouts.api import SpecError, check_object, dump_object
from rollouts.api.placeholder import DurationOrArg, has_placeholder
from rollouts.lint import lint_text
from tests.unit.test_analysis_decide import T0, analysis_run
from tests.unit.test_crds_static import validate_doc

FIX = ": fix the argument's value (the Rollout's analysis args, or the template's default)"
PROMETHEUS = {"prometheus": {"address": "http://prometheus:9090", "query": "up",
                             "timeout": "{{args.timeout}}"}}
WEB = {"web": {"url": "http://checker/health", "timeoutSeconds": "{{ args.timeout }}"}}


def templated(provider: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "name": "success-rate",
        "interval": "{{args.interval}}",
        "initialDelay": "{{args.delay}}",
        "count": "{{args.count}}",
        "failureLimit": "{{args.failures}}",
        "inconclusiveLimit": "{{args.inconclusives}}",
        "consecutiveErrorLimit": "{{args.errors}}",
        "successCondition": "result == 1",
        "provider": provider or PROMETHEUS,
        **fields,
    }


ARG_NAMES = ("interval", "delay", "count", "failures", "inconclusives", "errors", "timeout")


def template(*metrics: dict[str, Any], kind: str = "AnalysisTemplate") -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": kind,
        "metadata": {"name": "t"},
        "spec": {"args": [{"name": name} for name in ARG_NAMES], "metrics": list(metrics)},
    }


ARGS = ResolvedArgs({"interval": "1s", "delay": "2s", "count": "3", "failures": "1",
                     "inconclusives": "0", "errors": "2", "timeout": "5"})


class TestTheModelsAcceptPlaceholders:
    @pytest.mark.parametrize("kind", ["AnalysisTemplate", "ClusterAnalysisTemplate",
                                      "AnalysisRun"])
    @pytest.mark.parametrize("provider", [PROMETHEUS, WEB], ids=["prometheus", "web"])
    def test_every_setting_may_be_a_placeholder(self, kind: str,
                                                provider: dict[str, Any]) -> None:
        doc = template(templated(provider), kind=kind)
        result = check_object(doc)
        assert result.errors == []
        assert result.obj is not None and dump_object(result.obj) == doc
        metric = result.obj.spec.metrics[0]
        assert set(metric.placeholders) == {
            "interval", "initialDelay", "count", "failureLimit", "inconclusiveLimit",
            "consecutiveErrorLimit",
            "provider.prometheus.timeout" if "prometheus" in provider
            else "provider.web.timeoutSeconds",
        }  # fmt: skip

    def test_lint_accepts_a_template_with_placeholders(self) -> None:
        text = """
apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: t}
spec:
  args: [{name: count}, {name: interval}]
  metrics:
  - name: success-rate
    count: "{{args.count}}"
    interval: "{{ args.interval }}"
    successCondition: result == 1
    provider: {web: {url: "http://x/", timeoutSeconds: "{{args.count}}"}}
"""
        report = lint_text(text, "t.yaml")
        assert report.problems == ()

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("count", "three", "'three' is not a whole number"),
            ("count", "{{count}}", "'{{count}}' is not a whole number"),
            ("failureLimit", "{{ args. x }}", "is not a whole number"),
            ("interval", "soon", "'soon' is not a duration"),
            ("initialDelay", "{{args}}", "'{{args}}' is not a duration"),
        ],
    )
    def test_garbage_that_is_no_placeholder_is_still_an_error(
        self, field: str, value: str, message: str
    ) -> None:
        result = check_object(template(templated(**{field: value})))
        [error] = result.errors
        assert error.path == f"spec.metrics[0].{field}"
        assert message in error.message and "{{args.NAME}}" in error.message

    @pytest.mark.parametrize(
        ("provider", "path"),
        [
            ({"prometheus": {"query": "up", "timeout": "10s"}}, "provider.prometheus.timeout"),
            ({"web": {"url": "http://x/", "timeoutSeconds": "ten"}}, "provider.web.timeoutSeconds"),
        ],
    )
    def test_a_timeout_must_be_whole_seconds_or_a_placeholder(
        self, provider: dict[str, Any], path: str
    ) -> None:
        [error] = check_object(template(templated(provider))).errors
        assert error.path == f"spec.metrics[0].{path}"

    def test_literal_values_are_still_checked_by_the_rules(self) -> None:
        doc = template(templated(interval="0s", count="2", failureLimit="3",
                                 provider={"web": {"url": "http://x/", "timeoutSeconds": 0}}))
        paths = {problem.path for problem in check_object(doc).errors}
        assert paths == {"spec.metrics[0].interval", "spec.metrics[0].count",
                         "spec.metrics[0].provider.web.timeoutSeconds"}


class TestDurationOrArg:
    def test_a_duration_or_a_placeholder(self) -> None:
        assert DurationOrArg.parse("90s").resolved().seconds == 90
        assert DurationOrArg.parse(30).resolved().seconds == 30
        pending = DurationOrArg.parse("{{ args.every }}")
        assert pending.is_placeholder and pending.raw == "{{ args.every }}"
        with pytest.raises(SpecError, match="still holds an argument placeholder"):
            pending.resolved()

    @given(st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.none()))
    def test_any_input_is_a_duration_or_arg_or_a_spec_error(self, value: object) -> None:
        try:
            parsed = DurationOrArg.parse(value)
        except SpecError:
            return
        assert DurationOrArg.parse(parsed.raw) == parsed
        assert parsed.is_placeholder == (isinstance(value, str) and has_placeholder(value))


class TestSubstitution:
    def test_settings_are_resolved_from_the_args(self) -> None:
        resolved = substitute(templated(WEB), ARGS)
        assert (resolved["count"], resolved["interval"], resolved["initialDelay"]) == (
            "3", "1s", "2s")
        assert resolved["provider"]["web"]["timeoutSeconds"] == "5"
        run = analysis_run(resolved)
        [rules] = read_rules(run).metrics
        assert (rules.count, rules.interval, rules.initial_delay) == (
            3, timedelta(seconds=1), timedelta(seconds=2))
        assert (rules.failure_limit, rules.inconclusive_limit,
                rules.consecutive_error_limit) == (1, 0, 2)

    def test_the_resolved_count_is_what_the_run_measures(self) -> None:
        run = analysis_run(substitute(templated(interval="1s", initialDelay=None), ARGS))
        plan = plan_run(run, T0)
        assert plan.due == ["success-rate"] and not plan.done

    @pytest.mark.parametrize(
        ("values", "message"),
        [
            ({"count": "abc"},
             'metric "success-rate": count "abc" (from {{args.count}}) is not an integer'),
            ({"failures": "1.5"},
             'metric "success-rate": failureLimit "1.5" (from {{args.failures}}) '
             "is not an integer"),
            ({"interval": "often"},
             'metric "success-rate": interval "often" (from {{args.interval}}) '
             "is not a duration (write e.g. 30s, 5m or 1h)"),
            ({"timeout": ""},
             'metric "success-rate": provider.prometheus.timeout "" (from {{args.timeout}}) '
             "is not an integer"),
        ],
    )  # fmt: skip
    def test_a_value_that_is_not_valid_after_substitution_is_an_args_error(
        self, values: dict[str, str], message: str
    ) -> None:
        args = ResolvedArgs({**ARGS.values, **values})
        with pytest.raises(ArgsError) as caught:
            substitute(templated(), args)
        assert str(caught.value) == message + FIX

    def test_every_bad_setting_is_named_at_once(self) -> None:
        args = ResolvedArgs({**ARGS.values, "count": "x", "delay": "y"})
        with pytest.raises(ArgsError) as caught:
            substitute(templated(), args)
        assert str(caught.value) == (
            'metric "success-rate": initialDelay "y" (from {{args.delay}}) is not a duration '
            '(write e.g. 30s, 5m or 1h); metric "success-rate": count "x" '
            "(from {{args.count}}) is not an integer" + FIX
        )

    def test_a_secret_value_is_never_shown(self) -> None:
        args = ResolvedArgs({**ARGS.values, "count": "hunter2"}, frozenset({"count"}))
        with pytest.raises(ArgsError) as caught:
            substitute(templated(), args)
        assert "hunter2" not in str(caught.value)
        assert 'count "*****" (from {{args.count}})' in str(caught.value)

    def test_literal_settings_are_left_to_the_rules(self) -> None:
        metric = {"name": "m", "count": "abc", "interval": "soon",
                  "provider": {"web": {"url": "http://x/", "timeoutSeconds": "ten"}}}
        assert setting_problems(metric, copy.deepcopy(metric), ARGS) == []

    def test_an_invalid_substituted_value_ends_the_run_in_error_if_not_caught_before(
        self,
    ) -> None:
        """Without the substitution check (e.g. a run written already substituted), the
        state machine still refuses the value, naming the field."""
        plan = plan_run(analysis_run(templated(**{
            key: value for key, value in substitute(templated(), ARGS).items()
            if key != "count"}, count="abc")), T0)
        assert plan.done and plan.phase.value == "Error"
        assert "spec.metrics[0].count" in plan.status["message"]


class TestTheCrdsAgreeWithTheModels:
    @pytest.mark.parametrize("kind", ["AnalysisTemplate", "ClusterAnalysisTemplate",
                                      "AnalysisRun"])
    @pytest.mark.parametrize("provider", [PROMETHEUS, WEB], ids=["prometheus", "web"])
    def test_placeholders_are_accepted(self, kind: str, provider: dict[str, Any]) -> None:
        assert validate_doc(template(templated(provider), kind=kind)) == []

    @pytest.mark.parametrize(
        ("field", "value"),
        [("count", "three"), ("count", "{{count}}"), ("failureLimit", "1.5"),
         ("inconclusiveLimit", "{args.x}"), ("consecutiveErrorLimit", "many"),
         ("interval", "soon"), ("initialDelay", "5 minutes"),
         ("interval", "{{args}}")],
    )  # fmt: skip
    @pytest.mark.parametrize("kind", ["AnalysisTemplate", "ClusterAnalysisTemplate",
                                      "AnalysisRun"])
    def test_garbage_is_refused(self, kind: str, field: str, value: str) -> None:
        errors = validate_doc(template(templated(**{field: value}), kind=kind))
        assert len(errors) == 1 and errors[0].startswith(f"spec.metrics[0].{field}: Invalid")

    @pytest.mark.parametrize(
        "provider",
        [{"prometheus": {"query": "up", "timeout": "ten"}},
         {"web": {"url": "http://x/", "timeoutSeconds": "-1"}}],
    )  # fmt: skip
    def test_a_garbage_timeout_is_refused(self, provider: dict[str, Any]) -> None:
        assert len(validate_doc(template(templated(provider)))) == 1

    @given(st.sampled_from(["count", "failureLimit", "interval", "initialDelay"]),
           st.one_of(st.integers(-5, 1000).map(str),
                     st.sampled_from(["30s", "1m30s", "1.5h", "500ms", "-1s", "{{args.n}}",
                                      "{{ args.n }}", "x{{args.n}}y", "{{args.}}", "1e3",
                                      "+7", "s", "", " 3"]),
                     st.text(alphabet="0123456789smh{}.args -", max_size=12)))
    def test_on_strings_the_crd_and_the_model_agree(self, field: str, value: str) -> None:
        """Whatever the model parses (ignoring its semantic rules), the schema accepts."""
        doc = template(templated(**{field: value}))
        model_ok = not any(problem.path == f"spec.metrics[0].{field}" and
                           not problem.message.startswith("must")
                           for problem in check_object(doc).errors)
        crd_ok = validate_doc(doc) == []
        if value.strip() == value:  # the model trims spaces around a number; the CRD does not
            assert model_ok == crd_ok, (field, value)
