"""`rollouts.api.secret_data`: one reading of a Secret's values for every side, and what
each side makes of a bad value (registry: a problem naming the key; repository
credentials and notifications: missing; `rollouts cluster add`: a one-line error)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from reconciler.clusters import read_clusters
from reconciler.repo_creds import credentials_for
from rollouts.api.secret_data import decode_value, secret_data
from rollouts.cli import cluster_cmds
from rollouts.cli.errors import UsageProblem
from rollouts.notifications.config import decode_secret


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


BAD = "not base64!"  # also what a lenient decoder would half-read: "notbase64"


def test_values_decode_and_bad_ones_are_named_by_key() -> None:
    read = secret_data({"data": {"a": b64("prod"), "b": BAD, "c": b64("\u00e9"),
                                 "d": base64.b64encode(b"\xff\xfe").decode()}})
    assert read.values == {"a": "prod", "c": "\u00e9"} and read.bad == ("b", "d")
    assert decode_value(b64("x")) == "x" and decode_value(BAD) is None


def test_string_data_wins_over_data_as_the_api_server_merges_it() -> None:
    read = secret_data({"data": {"a": b64("old"), "b": BAD}, "stringData": {"a": "new", "b": 1}})
    assert read.values == {"a": "new", "b": "1"} and read.bad == ()
    assert secret_data(None).values == {} and secret_data({"data": None}).bad == ()


def test_each_side_reads_the_same_values() -> None:
    secret: dict[str, Any] = {
        "metadata": {"name": "repo", "labels": {"argocd.argoproj.io/secret-type": "repository"}},
        "data": {"url": b64("https://git.example.com/a.git"), "username": b64("me"),
                 "password": BAD, "server": b64("https://10.0.0.2:6443")}}
    assert decode_secret(secret) == secret_data(secret).values
    creds = credentials_for("https://git.example.com/a.git", [secret])
    assert creds is not None and creds.username == "me" and not creds.password
    _, problems = read_clusters([secret])
    assert "data.password is not base64" in problems[0].message


def test_cluster_add_says_a_bad_token_in_one_line() -> None:
    class Client:
        def get(self, *_a: Any) -> dict[str, Any]:
            return {"data": {"token": BAD}}

    with pytest.raises(UsageProblem, match="is not base64 of text; delete that Secret"):
        cluster_cmds._wait_for_token(Client())  # type: ignore[arg-type]


def test_cluster_add_reads_a_good_token() -> None:
    class Client:
        def get(self, *_a: Any) -> dict[str, Any]:
            return {"data": {"token": b64("tok")}}

    assert cluster_cmds._wait_for_token(Client()) == "tok"  # type: ignore[arg-type]
