"""Imported first by the stack's fork server: optional parts of libraries no service uses stay out.

``import httpx`` also imports httpx's command-line client (click, rich,
pygments) whenever those happen to be installed: about half of httpx's
import time, paid by every process that makes an HTTP request. No service
or Gateway runs that client, so the fork server marks ``httpx._main`` as
absent before anything imports httpx (``httpx.main`` then only says the CLI
is unavailable). Nothing else is changed; a fresh interpreter is unaffected.
"""

from __future__ import annotations

import sys

sys.modules.setdefault("httpx._main", None)  # type: ignore[assignment]  # None: "not importable"
