"""runtime_service over 1,000 runs and a real run's log: the listing says what each run's files say, sorted as
asked, and GET /runs/{id}/events pages a log by cursor, a bounded page at a time, for a viewer."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import pytest

from backend.clients.services import runtime_client
from backend.storage.run_index import build_row
from tests.services.trading_news_support import backtest_data, data_env, run_service
from tests.storage.history_runs import write_run, write_state

VIEWER = "viewer-token-for-history-0000"
TOKENS = {"EVOTRADERS_VIEWER_TOKEN": VIEWER, "EVOTRADERS_ADMIN_TOKEN": "admin-token-for-history-00000"}
AUTH = {"Authorization": f"Bearer {VIEWER}"}
RUNS = 1000

data = backtest_data("history", "real")


@pytest.fixture(scope="module")
def runs_root(data: Path) -> Path:
    rng = random.Random(11)
    for i in range(RUNS):
        write_run(data / "runs", f"h{i:04d}", rng, seq=i, state=i % 7 != 0)
    return data


@pytest.fixture(scope="module")
def service(runs_root: Path):
    gen = run_service("runtime_service", data_env(runs_root, **TOKENS))
    yield next(gen)
    next(gen, None)


def files_say(root: Path) -> dict[str, dict]:
    runs = root / "runs"
    return {p.name: build_row(p) for p in runs.iterdir() if p.is_dir() and (p / "BOOTSTRAP.md").is_file()}


def listing(service, **params: str) -> list[dict]:
    answer = httpx.get(f"{service.url}/runs", params=params, headers=AUTH, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_listing_of_a_thousand_runs_is_what_their_files_say(service, runs_root: Path) -> None:
    rows = listing(service)
    expected = files_say(runs_root)
    assert len(rows) == len(expected) == RUNS + 1
    assert [r["run_id"] for r in rows] == sorted(expected, reverse=True)
    for row in rows:
        for key, value in expected[row["run_id"]].items():
            assert row[key] == value, (row["run_id"], key)
        assert row["gateway"]["status"] == "stopped"
    # A Gateway (another process) writes a run's state: the next listing says so.
    write_state(runs_root / "runs" / "h0000", random.Random(5), 9999)
    changed = next(r for r in listing(service) if r["run_id"] == "h0000")
    assert changed["metrics"] == build_row(runs_root / "runs" / "h0000")["metrics"] is not None


@pytest.mark.parametrize("key,order", [("sharpe", "desc"), ("total_return_pct", "asc"), ("start_date", "asc"),
                                       ("status", "desc"), ("trades", "asc")])
def test_the_listing_is_sorted_as_asked_with_runs_lacking_the_figure_last(service, key: str, order: str) -> None:
    rows = listing(service, sort=key, order=order)
    value = (lambda r: (r["metrics"] or {}).get(key)) if key in ("sharpe", "total_return_pct", "trades") \
        else (lambda r: r[key])
    have = [r for r in rows if value(r) is not None]
    assert [value(r) for r in have] == sorted((value(r) for r in have), reverse=order == "desc")
    assert all(value(r) is None for r in rows[len(have):])
    assert len(rows) == RUNS + 1
    if key in ("sharpe", "trades"):
        assert len(have) < len(rows)  # the runs not started yet have no figures


def test_a_bad_sort_is_a_400_naming_the_keys(service) -> None:
    answer = httpx.get(f"{service.url}/runs", params={"sort": "luck"}, headers=AUTH)
    assert answer.status_code == 400 and "luck" in answer.text and "sharpe" in answer.text
    assert httpx.get(f"{service.url}/runs", params={"order": "up"}, headers=AUTH).status_code == 422


def test_events_are_paged_by_cursor_a_bounded_page_at_a_time(service, runs_root: Path) -> None:
    log = runs_root / "runs" / "real" / "logs" / "events.jsonl"
    whole = log.read_bytes()
    got, cursor, pages = [], 0, 0
    while pages < 100_000:
        answer = httpx.get(f"{service.url}/runs/real/events", params={"cursor": cursor, "limit": 400}, headers=AUTH)
        assert answer.status_code == 200, answer.text
        lines = answer.content.splitlines(keepends=True)
        assert len(lines) <= 400  # the page never holds more than it was asked for
        got += lines
        pages += 1
        nxt = int(answer.headers["x-next-cursor"])
        assert int(answer.headers["x-log-bytes"]) == len(whole)
        if nxt == cursor:
            break
        assert whole[:nxt].endswith(b"\n") and b"".join(got) == whole[:nxt]
        cursor = nxt
    assert b"".join(got) == whole and pages > 2

    # A byte budget ends a page after the line that reaches it, however many lines were allowed.
    small = httpx.get(f"{service.url}/runs/real/events", params={"limit": 50_000, "max_bytes": 4096}, headers=AUTH)
    lines = small.content.splitlines(keepends=True)
    assert sum(map(len, lines[:-1])) < 4096 <= sum(map(len, lines)) and int(small.headers["x-next-cursor"]) == \
        sum(map(len, lines))


def test_a_cursor_inside_a_line_or_past_the_end_is_a_400(service, runs_root: Path) -> None:
    size = (runs_root / "runs" / "real" / "logs" / "events.jsonl").stat().st_size
    for cursor, words in ((5, "not the start of a line"), (size + 10, "past the end")):
        answer = httpx.get(f"{service.url}/runs/real/events", params={"cursor": cursor}, headers=AUTH)
        assert answer.status_code == 400 and words in answer.text and "real" in answer.text
    assert httpx.get(f"{service.url}/runs/real/events", params={"cursor": -1}, headers=AUTH).status_code == 422
    assert httpx.get(f"{service.url}/runs/real/events").status_code == 401


def test_the_runtime_client_streams_a_whole_log_for_a_viewer(service, runs_root: Path) -> None:
    async def read_all() -> tuple[list[bytes], int]:
        client = runtime_client(service.url, VIEWER)
        pages = 0
        original = client.events_page

        async def counted(*args, **kwargs):
            nonlocal pages
            pages += 1
            return await original(*args, **kwargs)

        client.events_page = counted  # type: ignore[method-assign]
        try:
            return [line async for line in client.event_lines("real", page_lines=500)], pages
        finally:
            await client.http.aclose()

    lines, pages = asyncio.run(read_all())
    assert b"".join(lines) == (runs_root / "runs" / "real" / "logs" / "events.jsonl").read_bytes()
    assert pages >= len(lines) // 500
