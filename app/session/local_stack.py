"""LocalStackLink: the local stack the session started or attached to (Qt-free).

The decisions (start, a lock or taken ports, attach, the demo run) are
:class:`backend.stack.launcher.StackLauncher`'s; this keeps which
stack the session looks at as the ``Local`` profile, and for how long.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backend.stack.launcher import LaunchResult, StackEndpoint, StackLauncher


class LocalStackLink:
    """``launcher``: of the stack this app started (None: none); ``attached``: another instance's stack."""

    def __init__(self) -> None:
        self.launcher: StackLauncher | None = None
        self.attached: StackEndpoint | None = None
        self.reload = False  # the next stack this app starts reloads on source change

    async def set_reload(self, on: bool) -> None:
        """Reload on source change for the next stack started, and the one running now (if ours)."""
        self.reload = bool(on)
        stack = self.stack
        if stack is not None and hasattr(stack, "set_reload"):
            await stack.set_reload(self.reload)

    @property
    def stack(self) -> Any:
        """The ``LocalStack`` this app started (while it is starting, too), or None."""
        return self.launcher.stack if self.launcher is not None else None

    @property
    def endpoint(self) -> StackEndpoint | None:
        """Where the stack the session looks at answers: ours, else the attached one."""
        if self.launcher is not None:
            return self.launcher.endpoint
        return self.attached

    async def start(self, launcher: StackLauncher, progress: Callable[[Any], None] | None,
                    announce: Callable[[], None]) -> LaunchResult:
        """Launch; ``announce()`` once the stack is ours (before it is up) and once it is decided."""
        self.launcher = launcher
        if self.reload and hasattr(launcher.stack, "set_reload"):
            launcher.stack.reload = True
        announce()
        try:
            result = await launcher.launch(progress=progress)
        finally:
            if not launcher.running:
                self.launcher = None
            announce()
        return result

    def attach(self, endpoint: StackEndpoint) -> None:
        self.attached = endpoint

    async def stop(self) -> None:
        """Stop the stack this app started (nothing if it attached to another's)."""
        launcher, self.launcher = self.launcher, None
        if launcher is not None:
            await launcher.stop()
