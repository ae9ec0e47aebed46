"""Fixtures of the evolution tests: the desk tests' offscreen Qt, Qt release, GC policy and
leaked-window check, for the Qt views tested here (importing the module sets QT_QPA_PLATFORM)."""

from tests.desk.conftest import (  # noqa: F401 - hooks and fixtures, found by name
    _gc_on_gui_thread, _no_leaked_windows, pytest_unconfigure,
)
