"""What `analysis.providers.transport` builds once and shares between exchanges: the
opener (per egress policy, TLS setting and proxy environment) and the deadline watchdog
(one thread for all exchanges), and that sharing them changes nothing an exchange does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from analysis.providers import transport
from analysis.providers.egress import EgressPolicy
from analysis.providers.transport import HttpRequest, TransportError, exchange
from rollouts.netdeadline import Deadline
from tests.integration.exporter import Reply, ScriptedServer

POLICY = EgressPolicy.from_networks()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as scripted:
        yield scripted


@pytest.fixture
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


class TestTheOpenerIsShared:
    def test_the_same_policy_and_setting_reuse_one_opener(self) -> None:
        assert transport._opener(POLICY, False, ()) is transport._opener(POLICY, False, ())

    def test_another_policy_tls_setting_or_proxy_gets_its_own(self) -> None:
        opener = transport._opener(POLICY, False, ())
        other_policy = EgressPolicy.from_networks(["10.0.0.0/8"])
        assert transport._opener(other_policy, False, ()) is not opener
        assert transport._opener(POLICY, True, ()) is not opener
        assert transport._opener(POLICY, False, (("http", "http://proxy:3128"),)) is not opener

    def test_a_proxy_set_after_the_first_exchange_is_honoured(
            self, server: ScriptedServer, no_proxies: None,
            monkeypatch: pytest.MonkeyPatch) -> None:
        url = server.reply("/ok", Reply(body={"ok": True}))
        assert exchange(HttpRequest(url), POLICY).status == 200
        # The proxy now named is a closed port: the exchange must go there and fail.
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
        with pytest.raises(TransportError):
            exchange(HttpRequest(url, timeout=2), POLICY)

    def test_exchanges_in_parallel_each_get_their_answer(self, server: ScriptedServer) -> None:
        urls = [server.reply(f"/n{i}", Reply(body={"n": i})) for i in range(16)]
        with ThreadPoolExecutor(8) as pool:
            bodies = list(pool.map(lambda url: exchange(HttpRequest(url), POLICY).body, urls))
        assert bodies == [f'{{"n": {i}}}'.encode() for i in range(16)]

    def test_a_connection_outside_an_exchange_is_refused(self) -> None:
        with pytest.raises(RuntimeError, match="outside of exchange"):
            transport._current_deadline()


class TestOneWatchdogForAllDeadlines:
    def test_many_exchanges_start_no_thread_each(self, server: ScriptedServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
        url = server.reply("/ok", Reply(body={"ok": True}))
        exchange(HttpRequest(url), POLICY)  # the watchdog's thread exists from here on
        started: list[str] = []
        original = threading.Thread.start

        def counting_start(thread: threading.Thread) -> None:
            started.append(thread.name)
            original(thread)

        monkeypatch.setattr(threading.Thread, "start", counting_start)
        for _ in range(20):
            assert exchange(HttpRequest(url), POLICY).status == 200
        monkeypatch.undo()
        # Only the scripted server starts threads (one per connection); the client none.
        assert started and all("process_request_thread" in name for name in started)

    def test_a_later_short_deadline_still_cuts_its_exchange(
            self, server: ScriptedServer) -> None:
        slow = server.reply("/slow", Reply(body={}, delay=3))
        quick = server.reply("/ok", Reply(body={}))
        # A long deadline waits in the watchdog first; a shorter one queued after it
        # must wake the watchdog, not wait behind it.
        Deadline(30).start()
        began = time.monotonic()
        with pytest.raises(TransportError, match=r"did not answer within 0\.5s"):
            exchange(HttpRequest(slow, timeout=0.5), POLICY)
        assert time.monotonic() - began < 2
        assert exchange(HttpRequest(quick), POLICY).status == 200

    def test_a_cancelled_deadline_shuts_nothing_when_its_time_comes(self) -> None:
        deadline = Deadline(0.05)
        deadline.start()
        deadline.cancel()
        time.sleep(0.3)
        assert not deadline.expired
