"""Turn errors a user can fix into one line on stderr and exit status 2."""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass
from typing import Iterator

from backend.agents.profile import AgentProfileError
from backend.clients.errors import ServiceError
from backend.config import SettingsError
from backend.errors import DomainError
from backend.market.base import MarketDataError
from backend.skills.spec import SkillSpecError
from backend.storage.bootstrap_file import BootstrapError
from backend.storage.ids import InvalidIdError
from backend.supervisor.ports import PortError

USER_ERRORS = (SettingsError, BootstrapError, InvalidIdError, MarketDataError, DomainError,
               AgentProfileError, SkillSpecError, PortError, ServiceError, ValueError)


@dataclass
class Outcome:
    code: int = 0


@contextlib.contextmanager
def user_errors() -> Iterator[Outcome]:
    outcome = Outcome()
    try:
        yield outcome
    except KeyboardInterrupt:
        print("evotraders: interrupted", file=sys.stderr)
        outcome.code = 130
    except USER_ERRORS as err:
        print(f"evotraders: error: {err}", file=sys.stderr)
        outcome.code = 2
    if outcome.code:
        raise SystemExit(outcome.code)
