"""Names and paths from the URL, and the media types of streaming routes: real agent_service and runtime_service.

A path segment longer than a file system allows (255 bytes) used to reach
``stat`` and come back as a 500 (ENAMETOOLONG); every route that takes a
name or a path must answer a 4xx that says what is wrong instead.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.errors import BadRequestError
from backend.storage.workspaces import safe_join
from tests.services.test_runtime_service import ADMIN, TOKENS, VIEWER, auth
from tests.services.trading_news_support import data_env, run_service

LONG = "a" * 300


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("names")


@pytest.fixture(scope="module")
def agent(root):
    gen = run_service("agent_service", data_env(root, **TOKENS))
    yield next(gen)
    next(gen, None)


@pytest.fixture(scope="module")
def runtime(root):
    gen = run_service("runtime_service", data_env(root, **TOKENS))
    service = next(gen)
    created = httpx.post(f"{service.url}/runs", headers=auth(ADMIN), json={"workspace": "default", "run_id": "r1"})
    assert created.status_code == 201, created.text
    yield service
    next(gen, None)


@pytest.fixture(scope="module")
def trading(root, runtime):
    gen = run_service("trading_service", data_env(root, **TOKENS))
    yield next(gen)
    next(gen, None)


@pytest.fixture(scope="module")
def news(root, runtime):
    gen = run_service("news_service", data_env(root, **TOKENS))
    yield next(gen)
    next(gen, None)


def _detail(answer: httpx.Response) -> str:
    payload = answer.json()
    assert set(payload) >= {"error", "detail"} and payload["detail"], answer.text
    return str(payload["detail"])


@pytest.mark.parametrize("path, expected", [
    (LONG, "path segment 1 of 'aaaa"),
    (f"agents/{LONG}/AGENT.md", "path segment 2 of 'agents/aaa"),
    ("é" * 130, "is 260 bytes long; at most 255 bytes per segment"),  # 130 characters, 260 bytes
    ("/".join(["b" * 200] * 25), "is too long ("),
])
def test_an_overlong_workspace_file_path_is_a_400_that_says_so(agent, path, expected):
    for method, body in (("GET", None), ("PUT", {"text": "hello"})):
        answer = httpx.request(method, f"{agent.url}/workspaces/default/files/{path}", headers=auth(ADMIN), json=body)
        assert answer.status_code == 400, (method, answer.text)
        assert expected in _detail(answer)
    assert not list((Path(agent.env["WORKSPACES_DIR"]) / "default").glob("b" * 200))  # nothing half-written


def test_a_name_of_exactly_255_bytes_is_simply_not_there(agent):
    answer = httpx.get(f"{agent.url}/workspaces/default/files/{'c' * 255}", headers=auth(VIEWER))
    assert answer.status_code == 404 and "no file" in _detail(answer)


def _routes_with_path_parameters(service) -> list[tuple[str, str]]:
    schema = httpx.get(f"{service.url}/openapi.json", headers=auth(VIEWER)).json()
    return [(method.upper(), path) for path, operations in schema["paths"].items() if "{" in path
            for method in operations]


@pytest.mark.parametrize("which", ["agent", "runtime", "trading", "news"])
def test_every_route_taking_a_name_answers_an_overlong_one_with_a_4xx(request, which):
    service = request.getfixturevalue(which)
    routes = _routes_with_path_parameters(service)
    assert len(routes) >= 3
    failures = []
    for method, path in routes:
        names = re.findall(r"\{(\w+)(?::path)?\}", path)
        for long_one in names:  # each parameter overlong in turn, the others real
            url = re.sub(r"\{(\w+)(?::path)?\}", lambda m: LONG if m.group(1) == long_one else
                         {"name": "default", "run_id": "r1"}.get(m.group(1), "x"), path)
            for body in ({}, {"text": "x"}):
                answer = httpx.request(method, f"{service.url}{url}", headers=auth(ADMIN), json=body, timeout=30)
                if not 400 <= answer.status_code < 500:
                    failures.append(f"{method} {path} ({long_one} overlong): {answer.status_code} {answer.text[:200]}")
                else:
                    _detail(answer)
    assert not failures, "\n".join(failures)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=600))
def test_safe_join_gives_a_path_inside_or_a_clear_error_never_an_os_error(tmp_path_factory, relative):
    root = tmp_path_factory.getbasetemp() / "safe_join_root"
    root.mkdir(exist_ok=True)
    try:
        target = safe_join(root, relative)
    except BadRequestError as err:
        assert str(err)
        return
    assert target == root.resolve() or root.resolve() in target.parents
    target.is_file()  # the file system accepts the name: no ENAMETOOLONG, no encoding error


STREAMS = [
    ("runtime", "/runs/{run_id}/events", "application/x-ndjson"),
    ("runtime", "/runs/{run_id}/logs/follow", "text/event-stream"),
    ("agent", "/approvals/events", "text/event-stream"),
]


@pytest.mark.parametrize("which, path, media_type", STREAMS)
def test_streaming_routes_declare_their_media_type(request, which, path, media_type):
    service = request.getfixturevalue(which)
    schema = httpx.get(f"{service.url}/openapi.json", headers=auth(VIEWER)).json()
    content = schema["paths"][path]["get"]["responses"]["200"]["content"]
    assert list(content) == [media_type]


@pytest.mark.parametrize("which, url, media_type", [
    ("runtime", "/runs/r1/events", "application/x-ndjson"),
    ("agent", "/approvals/events", "text/event-stream"),
])
def test_streaming_routes_answer_with_the_media_type_they_declare(request, which, url, media_type):
    service = request.getfixturevalue(which)
    with httpx.stream("GET", f"{service.url}{url}", headers=auth(VIEWER), timeout=30) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].split(";")[0] == media_type
