"""Hostile inputs to the analysis side, fed to the real evaluator and state machine.

Each test is one finding of the December 2026 security review (issue 11): a condition
built to exhaust memory (M2), the egress policy's address checks (M3), measured values
that echo a Secret (M4), timeouts that must be capped (M6). The HTTP side (redirects,
slow and huge servers, the policy against real connections) is in
tests/integration/test_analysis_hostile.py, against real servers on 127.0.0.1.
"""

from __future__ import annotations

import socket
import time
import tracemalloc
from datetime import UTC, datetime
from typing import Any

import pytest

from analysis.args import ResolvedArgs
from analysis.decide import Outcome, plan_run, record
from analysis.decide_status import MAX_VALUE_LENGTH
from analysis.evaluator import ConditionError, evaluate
from analysis.expr_values import MAX_BUILT_BYTES
from analysis.providers import EgressDenied, EgressPolicy
from analysis.providers.prometheus import PrometheusRequest
from analysis.providers.transport import MAX_TIMEOUT_SECONDS
from analysis.providers.web import WebRequest

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
MiB = 1024 * 1024


def _run(condition: str) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": "hostile", "namespace": "default"},
        "spec": {"metrics": [{"name": "m", "successCondition": condition,
                              "provider": {"web": {"url": "http://checks/"}}}]},
    }


def _peak_while(action: Any) -> tuple[float, int, object]:
    """(seconds, peak bytes allocated, what `action` returned or raised) while it runs."""
    tracemalloc.start()
    started = time.monotonic()
    try:
        try:
            result: object = action()
        except ConditionError as error:
            result = error
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return time.monotonic() - started, peak, result


class TestMemoryBomb:
    """M2: `map` over a large array of a slice of a large string used to build gigabytes
    (4.7 GB for these sizes, measured by the review) before the step budget tripped."""

    PROBE = "len(map(result.arr, result.big[1:])) > 0"

    @pytest.mark.parametrize("big", [200_000, 2_000_000], ids=["200KB", "2MB"])
    def test_the_review_probe_stops_at_the_memory_budget(self, big: int) -> None:
        result = {"arr": list(range(30_000)), "big": "x" * big}
        seconds, peak, outcome = _peak_while(lambda: evaluate(self.PROBE, result))
        assert isinstance(outcome, ConditionError), outcome
        assert f"builds more than {MAX_BUILT_BYTES // MiB} MiB" in str(outcome)
        assert peak < 100 * MiB, f"peak {peak / MiB:.0f} MiB"
        assert seconds < 10

    def test_the_probe_is_an_error_measurement(self) -> None:
        run = _run(self.PROBE)
        status = plan_run(run, T0).status
        value = {"arr": list(range(30_000)), "big": "x" * 2_000_000}
        _, peak, after = _peak_while(
            lambda: record(run, status, "m", Outcome.measured(value), T0))
        assert isinstance(after, dict)
        [measurement] = after["metricResults"][0]["measurements"]
        assert measurement["phase"] == "Error"
        assert "builds more than 16 MiB" in measurement["message"]
        assert "\n" not in measurement["message"]
        assert peak < 100 * MiB, f"peak {peak / MiB:.0f} MiB"

    @pytest.mark.parametrize("condition", [
        "len(filter(result.arr, len(result.big[1:]) > 0)) > 0",  # slices kept alive by nothing
        "len(map(result.arr, [result.big[1:], result.big[2:]])) > 0",
        "len(map(result.arr, map(result.arr, #))) > 0",           # arrays of arrays
        "len(map(result.arr, result.arr[1:])) > 0",
        "len(map(result.arr, result.small + result.small)) > 0",  # concatenation
    ])
    def test_other_ways_to_copy_stop_too(self, condition: str) -> None:
        result = {"arr": list(range(30_000)), "big": "x" * 2_000_000, "small": "y" * 50_000}
        seconds, peak, outcome = _peak_while(lambda: evaluate(condition, result))
        assert isinstance(outcome, ConditionError), outcome
        assert peak < 100 * MiB, f"{condition}: peak {peak / MiB:.0f} MiB"
        assert seconds < 10

    def test_scanning_a_long_string_again_and_again_runs_out_of_steps(self) -> None:
        result = {"arr": list(range(30_000)), "big": "ab" * 1_000_000}
        seconds, _, outcome = _peak_while(
            lambda: evaluate('none(result.arr, result.big contains "abc")', result))
        assert isinstance(outcome, ConditionError) and "too long" in str(outcome), outcome
        assert seconds < 10

    def test_as_float_of_a_long_digit_string_is_linear(self) -> None:
        # The old float pattern backtracked quadratically: 16k digits took ~10 s.
        started = time.monotonic()
        with pytest.raises(ConditionError, match="is not a number"):
            evaluate("asFloat(result) > 0", "1" * 2_000_000 + "x")
        assert time.monotonic() - started < 5

    @pytest.mark.parametrize(("condition", "result"), [
        ("len(result.text[1:]) == 3", {"text": "abcd"}),
        ("len(map(result, # * 2)) == 3 && sum(result) == 6", [1, 2, 3]),
        ("len(filter(result, # > 1)) == 2", [1, 2, 3]),
        ('result.a + result.b == "xy"', {"a": "x", "b": "y"}),
        ("[1, 2][1:] == [2]", None),
        ('result.body contains "ok"', {"body": "ok " * 1_000_000}),  # a 3 MB friendly answer
        ("sum(result) > 0", list(range(1, 50_000))),
    ])
    def test_friendly_conditions_still_fit(self, condition: str, result: object) -> None:
        assert evaluate(condition, result) is True


class TestEchoedSecrets:
    """M4: an endpoint that echoes its query string puts a secret argument in the value."""

    SECRET = "pa55-Zx9!q"
    ARGS = ResolvedArgs(values={"token": SECRET, "service": "web"},
                        secret_names=frozenset({"token"}))

    def _measurement(self, condition: str | None, value: object) -> dict[str, Any]:
        run = _run(condition or "true")
        if condition is None:
            del run["spec"]["metrics"][0]["successCondition"]
        status = record(run, plan_run(run, T0).status, "m", Outcome.measured(value), T0,
                        redact=self.ARGS.redact)
        measurement: dict[str, Any] = status["metricResults"][0]["measurements"][-1]
        return measurement

    @pytest.mark.parametrize("value", [
        f"token={SECRET}",
        {"echo": {"query": f"token={SECRET}&x=1"}},
        [f"Bearer {SECRET}"],
        {"url": "http://checks/?token=pa55-Zx9%21q"},  # URL-encoded, as a server may echo it
    ])
    def test_the_stored_value_is_redacted(self, value: object) -> None:
        stored = self._measurement(None, value)["value"]
        assert self.SECRET not in stored and "pa55-Zx9%21q" not in stored
        assert "*****" in stored

    def test_a_secret_cut_in_half_by_the_length_limit_is_still_redacted(self) -> None:
        for at in range(MAX_VALUE_LENGTH - 16, MAX_VALUE_LENGTH):
            value = "x" * at + self.SECRET + "y" * 100
            stored = self._measurement(None, value)["value"]
            for prefix in range(4, len(self.SECRET) + 1):
                assert self.SECRET[:prefix] not in stored, (at, stored[-30:])

    def test_a_condition_message_quoting_the_value_is_redacted(self) -> None:
        measurement = self._measurement("asInt(result) > 0", f"token={self.SECRET}")
        assert measurement["phase"] == "Error"
        assert "is not an integer" in measurement["message"]
        assert self.SECRET not in measurement["message"]

    def test_the_condition_still_sees_the_real_value(self) -> None:
        condition = f'result.token == "{self.SECRET}"'  # as {{args.token}} substituted it
        assert self._measurement(condition, {"token": self.SECRET})["phase"] == "Successful"


class TestEgressPolicy:
    """M3: the address checks, with a scripted resolver (the real connections are in the
    integration tests)."""

    @pytest.fixture
    def answers(self, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
        """DNS answers, one list of addresses per lookup, in order."""
        scripted: list[list[str]] = []

        def getaddrinfo(host: str, port: int, *args: Any) -> list[Any]:
            addresses = scripted.pop(0)
            return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6,
                     "", (a, port)) for a in addresses]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return scripted

    def test_one_denied_address_among_several_refuses_the_host(
        self, answers: list[list[str]]
    ) -> None:
        answers.append(["93.184.216.34", "169.254.169.254"])
        with pytest.raises(EgressDenied, match=r"evil\.example \(169\.254\.169\.254\) is in "
                                               r"169\.254\.0\.0/16"):
            EgressPolicy.from_networks().resolve("evil.example", 80)

    def test_a_rebinding_answer_is_checked_on_the_connection_itself(
        self, answers: list[list[str]], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # The first lookup (a pre-check) is harmless; the connection's own lookup is not.
        answers.extend([["93.184.216.34"], ["169.254.169.254"]])
        policy = EgressPolicy.from_networks()
        policy.resolve("rebind.example", 80)
        attempts: list[object] = []
        monkeypatch.setattr(socket.socket, "connect", lambda self, a: attempts.append(a))
        with pytest.raises(EgressDenied):
            policy.connect(("rebind.example", 80), 1.0)
        assert attempts == []

    @pytest.mark.parametrize(("address", "denied"), [
        ("169.254.169.254", True), ("169.254.0.1", True), ("fe80::1", True),
        ("fe80::1%eth0", True), ("::ffff:169.254.169.254", True),
        ("127.0.0.1", False), ("10.0.0.1", False), ("::1", False), ("fd00:ec2::254", False),
    ])
    def test_the_default_denies_link_local_only(self, address: str, denied: bool) -> None:
        assert (EgressPolicy.from_networks().denied_by(address) is not None) is denied

    def test_an_empty_list_denies_nothing(self) -> None:
        assert EgressPolicy.from_networks([]).denied_by("169.254.169.254") is None

    def test_a_malformed_network_is_one_clear_line(self) -> None:
        with pytest.raises(ValueError, match="is not a network; write it as a CIDR"):
            EgressPolicy.from_networks(["metadata"])


class TestTimeoutCap:
    """M6: a metric may not hold an analysis worker longer than `MAX_TIMEOUT_SECONDS`."""

    def test_web_timeouts_are_clamped(self) -> None:
        request = WebRequest.from_spec({"url": "http://checks/", "timeoutSeconds": 86400})
        assert request.timeout == MAX_TIMEOUT_SECONDS == 60
        assert WebRequest.from_spec({"url": "http://checks/", "timeoutSeconds": 5}).timeout == 5

    def test_prometheus_timeouts_are_clamped(self) -> None:
        spec = {"address": "http://prometheus:9090", "query": "up", "timeout": "1h"}
        assert PrometheusRequest.from_spec(spec, None).timeout == MAX_TIMEOUT_SECONDS
