"""SandboxModel without Qt: per-field validation with the shared schema, the mode-none banner, probe outcomes."""

from __future__ import annotations

import pytest

from app.models.sandbox_model import MODE_FIELDS, NONE_WARNING, ProbeOutcome, SandboxModel
from backend.schema.api_runtime import SandboxSettings


def test_draft_errors_name_the_field_and_clear_when_fixed() -> None:
    model = SandboxModel()
    model.set_field("mode", "docker")
    model.set_field("memory_limit", "lots")
    model.set_field("cpu_limit", 0)
    model.set_field("namespace", "Bad_NS")
    assert model.errors == {"memory_limit": "expected a size like 512m or 1g",
                            "cpu_limit": "Input should be greater than 0",
                            "namespace": "expected a Kubernetes namespace (lowercase letters, digits and -)"}
    assert not model.valid
    model.set_field("memory_limit", "1g")
    model.set_field("cpu_limit", 2.0)
    model.set_field("namespace", "trading")
    assert model.valid and model.errors == {}
    with pytest.raises(KeyError, match="no sandbox setting 'colour'"):
        model.set_field("colour", "red")


def test_empty_optional_fields_mean_unset() -> None:
    model = SandboxModel()
    model.set_field("kube_context", "  ")
    assert model.draft["kube_context"] is None and model.valid


def test_banner_only_while_the_mode_in_effect_is_none() -> None:
    model = SandboxModel()
    assert model.banner is None  # nothing loaded yet: no claim either way
    model.saved = SandboxSettings(mode="none")
    assert model.banner == NONE_WARNING
    model.saved = SandboxSettings(mode="process")
    assert model.banner is None
    assert model.visible_fields("process") == MODE_FIELDS["process"] and model.visible_fields("none") == ()


async def test_save_refuses_an_invalid_draft_without_a_request() -> None:
    model = SandboxModel()  # no runtime client: a request would fail differently
    model.set_field("timeout", -1)
    assert not await model.save()
    assert model.message == "not saved: timeout: Input should be greater than 0"


def test_probe_outcome_summaries() -> None:
    ok = ProbeOutcome.from_api({"mode": "process", "ok": True, "duration_ms": 812.4, "note": "bwrap",
                                "result": {"output": {"python_version": "3.11.9", "uid": 65534, "network_reachable": False,
                                                      "platform": "Linux"}}})
    assert ok.ok and ok.summary == "works: Python 3.11.9, uid 65534, no network (bwrap)"
    bad = ProbeOutcome.from_api({"mode": "docker", "ok": False, "duration_ms": 3.0,
                                 "result": {"error": {"kind": "backend_unavailable", "message": "no docker"}}})
    assert not bad.ok and bad.summary == "backend_unavailable: no docker"
