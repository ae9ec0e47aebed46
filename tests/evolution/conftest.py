"""Fixtures of the evolution tests: the desk tests' Qt release and GC policy for the Qt views here."""

from tests.desk.conftest import _gc_on_gui_thread, pytest_unconfigure  # noqa: F401 - hooks and fixture by name
