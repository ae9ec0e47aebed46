"""ProcessSpec validation, back-off arithmetic and outcome wording."""

from __future__ import annotations

import pytest

from backend.supervisor import ProcessSpec, RestartPolicy, backoff_delay
from backend.schema.process import ProcessExit


def test_backoff_doubles_up_to_the_cap():
    assert [backoff_delay(n, 0.5, 3.0) for n in range(0, 6)] == [0.0, 0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff_delay(10_000, 0.5, 30.0) == 30.0


def test_spec_normalises_its_fields(tmp_path):
    spec = ProcessSpec("svc", ["python", "-V"], env={"A": 1}, restart="on-failure", log_path=str(tmp_path / "x.log"))
    assert spec.argv == ("python", "-V")
    assert spec.env == {"A": "1"}
    assert spec.restart is RestartPolicy.on_failure
    assert spec.log_path == tmp_path / "x.log"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "bad name", "argv": ["x"]}, "invalid process name 'bad name'"),
        ({"name": "svc", "argv": []}, "argv must be a non-empty list"),
        ({"name": "svc", "argv": "python -V"}, "argv must be a non-empty list"),
        ({"name": "svc", "argv": ["x"], "grace_seconds": -1}, "grace_seconds must not be negative"),
        ({"name": "svc", "argv": ["x"], "port": 70000}, "port 70000 is out of range"),
        ({"name": "svc", "argv": ["x"], "restart": "sometimes"}, "'sometimes' is not a valid RestartPolicy"),
    ],
)
def test_spec_rejects_bad_values_in_one_line(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ProcessSpec(**kwargs)


def test_outcome_wording():
    crashed = ProcessExit.from_returncode(3, ["boom"])
    assert (crashed.exit_code, crashed.signal, crashed.reason, crashed.ok) == (3, None, "exited with code 3", False)
    killed = ProcessExit.from_returncode(-9, [])
    assert (killed.exit_code, killed.signal, killed.reason) == (None, "SIGKILL", "killed by SIGKILL")
    stopped = ProcessExit.from_returncode(-15, [], requested=True)
    assert stopped.reason == "stopped: killed by SIGTERM" and stopped.ok
    assert crashed.model_dump(mode="json")["lines"] == ["boom"]
