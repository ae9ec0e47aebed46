"""Qt widgets of the desktop app (PySide6 + pyqtgraph on one qasync loop).

Views observe the Qt-free models of ``app/models``; ``main_window.py`` holds
the shell, ``panels/`` one module per dockable panel (listed in
``panels/__init__.py:PANELS``), ``bridge.py`` turns plain callbacks into
throttled Qt refreshes, ``async_helpers.py`` runs coroutines from slots.
"""
