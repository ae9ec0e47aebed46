"""runtime_service: a run created frozen says so in run history; a bad value is a 422 naming the field."""

from __future__ import annotations

import httpx
import pytest

from tests.services.trading_news_support import data_env, run_service

ADMIN = "admin-token-for-evolution-0000"
HEADERS = {"Authorization": f"Bearer {ADMIN}"}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory):
    gen = run_service("runtime_service", data_env(tmp_path_factory.mktemp("evolution_service"),
                                                  EVOTRADERS_ADMIN_TOKEN=ADMIN))
    yield next(gen)
    next(gen, None)


def test_history_tells_frozen_from_evolving(service) -> None:
    with httpx.Client(base_url=service.url, headers=HEADERS, timeout=30) as http:
        for run_id, extra in (("frozen", {"evolution": "frozen"}), ("evolving", {})):
            created = http.post("/runs", json={"run_id": run_id, "end_date": "2025-01-10", **extra})
            assert created.status_code == 201, created.text
        rows = {row["run_id"]: row for row in http.get("/runs").json()}
        assert rows["frozen"]["evolution"] == "frozen" and rows["evolving"]["evolution"] == "evolving"
        assert "evolution: frozen" in http.get("/runs/frozen/bootstrap").json()["text"]


def test_a_bad_evolution_is_refused_by_name(service) -> None:
    answer = httpx.post(f"{service.url}/runs", json={"evolution": "thawed"}, headers=HEADERS, timeout=30)
    assert answer.status_code == 422 and "evolution" in answer.text
    listed = httpx.get(f"{service.url}/runs", headers=HEADERS, timeout=30).json()
    assert {r["run_id"] for r in listed} <= {"frozen", "evolving"}   # nothing half-created
