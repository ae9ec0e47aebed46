"""EvoTraders desktop control center (PySide6 + qasync): the only Qt package.

Layout: ``app/models/`` and ``app/net/`` are Qt-free (plain Python and
pydantic; tests drive them without Qt); ``app/qt/`` holds the widgets that
observe them.
"""
