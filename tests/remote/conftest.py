"""The remote tests drive the desk offscreen: the desk tests' qasync loop and Qt hygiene fixtures."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from tests.desk.conftest import (  # noqa: E402,F401 - fixtures and the Qt release hook, re-exported
    _gc_on_gui_thread, _no_leaked_windows, arun, pytest_unconfigure, qloop,
)
