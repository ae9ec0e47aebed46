"""GET /runs/{id}/events on a real runtime_service never serves a broken line, and says how many it left out."""

from __future__ import annotations

import json

import httpx

from backend.storage.run_store import RunStore
from backend.storage.workspaces import WorkspaceStore
from tests.support.service_process import ServiceProcess, service_env

VIEWER = "viewer-token-for-events-route-000"


def test_a_corrupt_middle_line_and_a_torn_tail_are_never_served(tmp_path):
    store = RunStore(tmp_path / "runs", WorkspaceStore(tmp_path / "ws"))
    store.create_run("default", run_id="torn")
    events = [json.dumps({"type": "system", "content": f"event {i}"}) for i in range(40)]
    lines = [e + "\n" for e in events]
    # What the old two-call writer left: event 9 cut short with event 10 appended to it, then a torn tail.
    lines[9] = events[9][:17] + events[10] + "\n"
    del lines[10]
    text = "".join(lines[:-1]) + events[39][:12]
    log = tmp_path / "runs/torn/logs/events.jsonl"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(text)

    env = service_env(tmp_path, EVOTRADERS_VIEWER_TOKEN=VIEWER, EVOTRADERS_ADMIN_TOKEN="admin-token-for-events-00000")
    with ServiceProcess("runtime_service", env) as service:
        def page(offset: int, limit: int) -> httpx.Response:
            answer = httpx.get(f"{service.url}/runs/torn/events", params={"offset": offset, "limit": limit},
                               headers={"Authorization": f"Bearer {VIEWER}"}, timeout=30)
            assert answer.status_code == 200, answer.text
            assert answer.headers["content-type"].startswith("application/x-ndjson")
            return answer

        whole = page(0, 50_000)
        served = [json.loads(line) for line in whole.text.splitlines()]  # every served line parses
        assert [e["content"] for e in served] == [f"event {i}" for i in range(40) if i not in (9, 10, 39)]
        assert whole.headers["x-skipped-lines"] == "1" and whole.headers["x-next-offset"] == "38"

        # Paging by X-Next-Offset walks the same lines, the corrupt one counted on its page only.
        got, offset, skipped = [], 0, 0
        for _ in range(20):
            answer = page(offset, 7)
            got += answer.text.splitlines()
            skipped += int(answer.headers["x-skipped-lines"])
            if int(answer.headers["x-next-offset"]) == offset:
                break
            offset = int(answer.headers["x-next-offset"])
        assert got == whole.text.splitlines() and skipped == 1 and offset == 38

        # A writer that opens the log cuts the torn tail; what it appends is then served whole.
        from backend.storage.event_log import EventLog

        writer = EventLog(log)
        writer.write(json.dumps({"type": "system", "content": "after restart"}))
        writer.close()
        tail = page(38, 10)
        assert [json.loads(line)["content"] for line in tail.text.splitlines()] == ["after restart"]
        assert tail.headers["x-skipped-lines"] == "0"
