"""Reading and writing ``BOOTSTRAP.md``: YAML front matter + a Markdown prompt.

A malformed file yields a :class:`BootstrapError` whose message names the
file, the line and the field (``runs/x/BOOTSTRAP.md:7: field 'tickers': ...``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from backend.errors import InvalidInputError
from backend.schema.bootstrap import BootstrapConfig

DELIMITER = "---"


class BootstrapError(InvalidInputError, ValueError):
    """BOOTSTRAP.md cannot be used; ``str(err)`` is one line: file, line, field, problem."""

    def __init__(self, source: str, line: int | None, message: str, field: str | None = None) -> None:
        self.source, self.line, self.field = source, line, field
        where = f"{source}:{line}" if line else source
        what = f"field '{field}': " if field else ""
        super().__init__(f"{where}: {what}{message}")


def _split(text: str, source: str) -> tuple[str, str, int]:
    """(front matter, body, line number of the first front-matter line)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != DELIMITER:
        raise BootstrapError(source, 1, "missing front matter: the file must start with a '---' line")
    for index in range(1, len(lines)):
        if lines[index].strip() == DELIMITER:
            return "".join(lines[1:index]), "".join(lines[index + 1:]), 2
    raise BootstrapError(source, len(lines), "front matter is not closed by a '---' line")


def _line_of(node: yaml.Node | None, loc: tuple[Any, ...], first_line: int) -> int | None:
    """The file line of the deepest YAML node along a pydantic error location."""
    best = node.start_mark.line + first_line if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == str(part)), None)
            if match is None:
                key = next((k for k, _ in node.value if getattr(k, "value", None) == str(part)), None)
                return key.start_mark.line + first_line if key is not None else best
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            break
        best = node.start_mark.line + first_line
    return best


_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_bootstrap(text: str, source: str = "BOOTSTRAP.md") -> tuple[BootstrapConfig, str]:
    """Validate the front matter and return it with the Markdown body."""
    front, body, first_line = _split(text, source)
    try:
        # libyaml's loader when present (run history parses every run's file once);
        # the node tree that places an error on its line is only built for an error.
        data = yaml.load(front, Loader=_LOADER) or {}
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = mark.line + first_line if mark is not None else None
        problem = getattr(err, "problem", None) or str(err)
        raise BootstrapError(source, line, f"invalid YAML: {problem}") from None
    if not isinstance(data, dict):
        raise BootstrapError(source, first_line, "front matter must be a mapping of field: value")
    try:
        config = BootstrapConfig.model_validate(data)
    except ValidationError as err:
        node = yaml.compose(front, Loader=_LOADER)
        first = err.errors()[0]
        loc = tuple(first.get("loc", ()))
        field = ".".join(str(p) for p in loc) or None
        line = _line_of(node, loc, first_line) if loc else first_line
        message = first.get("msg", "invalid value").removeprefix("Value error, ")
        raise BootstrapError(source, line, message, field) from None
    return config, body


def read_bootstrap(path: Path) -> tuple[BootstrapConfig, str]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BootstrapError(str(path), None, "file not found") from None
    except UnicodeDecodeError:
        raise BootstrapError(str(path), None, "not UTF-8 text") from None
    return parse_bootstrap(text, str(path))


def render_bootstrap(config: BootstrapConfig, body: str) -> str:
    """The file text for a config and a prompt body (round-trips with parse_bootstrap)."""
    data = config.model_dump(mode="json", exclude_none=True)
    front = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    body = body if body.startswith("\n") else "\n" + body
    return f"{DELIMITER}\n{front}{DELIMITER}{body}"
