"""The dockable panels, discovered from one list.

``PANELS`` holds ``(module, class name)`` pairs in display order;
:func:`load_panels` imports each one and skips a module that does not exist
(a panel being written, or removed) so the app still starts. A panel module
that exists but fails to import is logged with its traceback and skipped too:
one broken panel must not take the control center down.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger(__name__)

PANELS: list[tuple[str, str]] = [
    ("app.qt.panels.stack", "StackPanel"),
    ("app.qt.panels.live", "LivePanel"),
    ("app.qt.panels.workspaces", "WorkspacesPanel"),
    ("app.qt.panels.agents", "AgentsPanel"),
    ("app.qt.panels.approvals", "ApprovalsPanel"),
    ("app.qt.panels.history", "HistoryPanel"),
    ("app.qt.panels.sandbox", "SandboxPanel"),
]

# Filled by load_panels(): module -> why it was skipped (shown in Help > About panels).
SKIPPED: dict[str, str] = {}


def load_panels(specs: list[tuple[str, str]] | None = None) -> list[type]:
    """The panel classes that import, in ``PANELS`` order."""
    classes = []
    for module_name, class_name in specs if specs is not None else PANELS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as err:
            if err.name == module_name:  # the panel module itself is absent: fine
                SKIPPED[module_name] = "not installed"
                log.debug("panel %s not present", module_name)
                continue
            SKIPPED[module_name] = f"missing dependency {err.name}"
            log.exception("panel %s needs a missing module", module_name)
            continue
        except Exception as err:  # noqa: BLE001 - a broken panel must not break the app
            SKIPPED[module_name] = f"{type(err).__name__}: {err}"
            log.exception("panel %s failed to import", module_name)
            continue
        cls = getattr(module, class_name, None)
        if cls is None:
            SKIPPED[module_name] = f"no class {class_name}"
            log.error("panel module %s has no class %s", module_name, class_name)
            continue
        classes.append(cls)
    return classes
