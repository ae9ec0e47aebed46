"""backend.signals: the one observer mechanism, as the supervisor, the run and the approvals store use it."""

from __future__ import annotations

import gc
import logging

import pytest

from backend.signals import Signal, emit, emit_logged
from backend.supervisor import ProcessSpec, ProcessSupervisor

log = logging.getLogger("tests.signals")


class Source:
    news = Signal(object)


class Watcher:
    def __init__(self) -> None:
        self.seen: list[object] = []

    def on_news(self, item: object) -> None:
        self.seen.append(item)


def test_emit_raises_the_callbacks_own_exception() -> None:
    source = Source()

    def broken(item: object) -> None:
        raise KeyError(f"no {item}")

    source.news.connect(broken)
    with pytest.raises(KeyError, match="no AAPL"):
        emit(source.news, "AAPL")


@pytest.mark.parametrize("fast", [False, True])
def test_emit_logged_logs_a_failing_callback_and_returns(caplog: pytest.LogCaptureFixture, fast: bool) -> None:
    source = Source()
    seen: list[object] = []
    source.news.connect(seen.append)
    source.news.connect(lambda item: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="tests.signals"):
        emit_logged(source.news, "day 1", logger=log, what="a news observer", fast=fast)
    assert seen == ["day 1"]
    [record] = caplog.records
    assert record.getMessage() == "a news observer failed: ZeroDivisionError: division by zero"
    assert record.exc_info is not None and record.exc_info[0] is ZeroDivisionError


def test_closures_are_held_strongly_bound_methods_weakly() -> None:
    source = Source()
    seen: list[object] = []

    def subscribe() -> None:  # the closure's only reference is the signal's
        source.news.connect(lambda item: seen.append(item))

    subscribe()
    watcher = Watcher()
    source.news.connect(watcher.on_news)
    emit(source.news, 1)
    del watcher
    gc.collect()
    emit(source.news, 2)
    assert seen == [1, 2]
    assert len(source.news) == 1  # the dropped watcher went with its object


async def test_a_supervisor_observer_reaches_processes_added_later() -> None:
    sup = ProcessSupervisor()
    names: list[str] = []
    sup.event.connect(lambda ev: names.append(ev.name))
    sup.add(ProcessSpec("later", ["true"]))
    await sup.start("later", wait_ready=True)
    await sup.stop_all()
    assert names and set(names) == {"later"}
