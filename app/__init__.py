"""EvoTraders desktop control center (PySide6 + qasync): the only Qt package.

Layout: ``app/models/``, ``app/net/`` (the Gateway client) and ``app/session/``
are Qt-free (plain Python and pydantic; tests drive them without Qt); the
services' HTTP clients are ``backend/clients/``; ``app/qt/`` holds the widgets
that observe the models.
"""
