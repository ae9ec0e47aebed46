"""Write the reference part of docs/protocol.md from the schema: every command, event and shape, with its fields.

    .venv/bin/python scripts/protocol_doc.py           # rewrite the generated section
    .venv/bin/python scripts/protocol_doc.py --check   # exit 1 if it is not what the schema says

The section between the ``BEGIN GENERATED`` and ``END GENERATED`` markers is
rendered from :mod:`backend.schema.commands` and :mod:`backend.schema.events`
(the union the desk parses with, and every model its fields reach): a
model's docstring (first paragraph) says what it is, its fields give names,
types and whether they may be left out. The prose around it is written by
hand; ``tests/gateway/test_protocol_doc.py`` checks both against the schema.
"""

from __future__ import annotations

import argparse
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pydantic import BaseModel  # noqa: E402
from typing_extensions import is_typeddict  # noqa: E402

from backend.schema.commands import COMMAND_MODELS  # noqa: E402
from backend.schema.events import DASHBOARD_EVENTS, PROJECT_EVENTS, Event  # noqa: E402

DOC = ROOT / "docs" / "protocol.md"
BEGIN = "<!-- BEGIN GENERATED from backend/schema by scripts/protocol_doc.py: edit the models, then run it -->"
END = "<!-- END GENERATED -->"
BASE_FIELDS = ("type", "request_id")  # every frame's; described once above the tables


def _summary(cls: type) -> str:
    """The first paragraph of a docstring, on one line, RST roles and literals as Markdown."""
    text = (cls.__doc__ or "").strip().split("\n\n")[0]
    text = " ".join(line.strip() for line in text.splitlines())
    text = re.sub(r":\w+:`~?([^`]+)`", r"`\1`", text)
    return text.replace("``", "`")


def _fields(cls: type) -> list[tuple[str, Any, bool, str]]:
    """``(name, annotation, required, description)`` of a model or TypedDict."""
    if is_typeddict(cls):
        hints = typing.get_type_hints(cls)
        return [(name, tp, name in cls.__required_keys__, "") for name, tp in hints.items()]
    return [(name, info.annotation, info.is_required(), info.description or "")
            for name, info in cls.model_fields.items()]


def _is_shape(tp: Any) -> bool:
    return isinstance(tp, type) and (is_typeddict(tp) or (issubclass(tp, BaseModel) and not issubclass(tp, Event)))


def _anchor(cls: type) -> str:
    return cls.__name__.lower()


def _type(tp: Any) -> str:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (Union, types.UnionType):
        return " or ".join(_type(a) for a in args)
    if origin is Literal:
        return " / ".join(f'"{a}"' if isinstance(a, str) else str(a) for a in args)
    if origin is list:
        return f"[{_type(args[0])}]"
    if origin is dict:
        return f"{{{_type(args[0])}: {_type(args[1])}}}"
    if tp is type(None):
        return "null"
    if tp is Any:
        return "any"
    if _is_shape(tp):
        return f"[{tp.__name__}](#{_anchor(tp)})"
    return getattr(tp, "__name__", str(tp))


def _shapes_in(tp: Any) -> list[type]:
    if _is_shape(tp):
        return [tp]
    return [shape for arg in typing.get_args(tp) for shape in _shapes_in(arg)]


def _field_list(cls: type) -> str:
    parts = [f"`{name}{'' if required else '?'}`: {_type(tp)}"
             for name, tp, required, _ in _fields(cls) if name not in BASE_FIELDS]
    return ", ".join(parts) or "—"


def _frame_table(models: tuple[type[BaseModel], ...]) -> list[str]:
    rows = ["| type | fields | what it is |", "|---|---|---|"]
    for cls in models:
        rows.append(f"| `{cls.model_fields['type'].default}` | {_field_list(cls)} | {_summary(cls)} |")
    return rows


def _shapes(roots: tuple[type[BaseModel], ...]) -> list[type]:
    """Every model and TypedDict the frames' fields reach, in the order first reached."""
    seen: list[type] = []
    queue = [shape for cls in roots for _, tp, _, _ in _fields(cls) for shape in _shapes_in(tp)]
    while queue:
        shape = queue.pop(0)
        if shape in seen:
            continue
        seen.append(shape)
        queue.extend(s for _, tp, _, _ in _fields(shape) for s in _shapes_in(tp))
    return seen


def render() -> str:
    """The generated section, markers included."""
    lines = [BEGIN, "", "### Client -> Gateway commands", "",
             "Every command may carry `request_id` (a string or an integer); the reply echoes it. "
             "`field?` may be left out.", ""]
    lines += _frame_table(COMMAND_MODELS)
    lines += ["", "### Gateway -> clients: the EvoTraders dashboard events", "",
              "Every event has its `type`; a reply to a command also carries the command's `request_id`.", ""]
    lines += _frame_table(DASHBOARD_EVENTS)
    lines += ["", "### Gateway -> clients: the additions of this project", ""]
    lines += _frame_table(PROJECT_EVENTS)
    lines += ["", "### Shapes", "", "The objects the frames' fields hold; `field?` may be left out.", ""]
    for shape in _shapes(COMMAND_MODELS + DASHBOARD_EVENTS + PROJECT_EVENTS):
        lines += [f"#### {shape.__name__}", ""]
        if _summary(shape):
            lines += [_summary(shape), ""]
        lines += ["| field | type | note |", "|---|---|---|"]
        for name, tp, required, description in _fields(shape):
            lines.append(f"| `{name}{'' if required else '?'}` | {_type(tp)} | {description} |")
        lines.append("")
    lines.append(END)
    return "\n".join(lines) + "\n"


def updated(text: str) -> str:
    """``text`` (the whole document) with its generated section replaced by :func:`render`."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{DOC} has no generated section (the {BEGIN!r} ... {END!r} markers)")
    return text[:start] + render() + text[end + len(END) + 1:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/protocol.md is out of date")
    args = parser.parse_args(argv)
    text = DOC.read_text(encoding="utf-8")
    new = updated(text)
    if args.check:
        if new != text:
            print(f"{DOC.relative_to(ROOT)} is out of date with backend/schema: run scripts/protocol_doc.py",
                  file=sys.stderr)
            return 1
        return 0
    if new != text:
        DOC.write_text(new, encoding="utf-8")
        print(f"rewrote the generated section of {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
