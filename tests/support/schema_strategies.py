"""Hypothesis strategies drawn from a pydantic model's JSON schema: valid JSON documents of that model.

    from_model(PriceUpdate)          # dicts that PriceUpdate.model_validate accepts

Covers what the protocol's JSON schemas use: objects (declared properties,
each optional one present or not; ``additionalProperties`` maps), arrays,
``anyOf``, ``enum``/``const``, strings, integers and numbers with
``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum``, booleans,
null, ``$ref`` into ``$defs``, and ``{}`` (any JSON value). Numbers are
finite (JSON has no NaN) and integers stay within 2**53; collections are
kept short so that a whole ``initial_state`` stays cheap to draw.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

MAX_ITEMS = 3
MAX_INT = 2**53
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
JSON_SCALARS = st.none() | st.booleans() | st.integers(-MAX_INT, MAX_INT) | \
    st.floats(allow_nan=False, allow_infinity=False) | TEXT
ANY_JSON = st.recursive(JSON_SCALARS, lambda inner: st.lists(inner, max_size=MAX_ITEMS)
                        | st.dictionaries(TEXT, inner, max_size=MAX_ITEMS), max_leaves=6)


def from_model(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects valid for ``model`` (by its validation JSON schema)."""
    schema = model.model_json_schema()
    return _strategy(schema, schema.get("$defs", {}))


def _strategy(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return st.deferred(lambda: _strategy(defs[name], defs))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of([_strategy(option, defs) for option in schema.get("anyOf") or schema["oneOf"]])
    kind = schema.get("type")
    if kind == "object":
        return _object(schema, defs)
    if kind == "array":
        items = _strategy(schema.get("items", {}), defs)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=max(schema.get("minItems", 0), MAX_ITEMS))
    if kind == "string":
        return TEXT
    if kind == "integer":
        low = schema.get("minimum", schema.get("exclusiveMinimum", -MAX_INT - 1) + 1)
        high = schema.get("maximum", schema.get("exclusiveMaximum", MAX_INT + 1) - 1)
        return st.integers(low, high)
    if kind == "number":
        return st.floats(min_value=schema.get("minimum", schema.get("exclusiveMinimum")),
                         max_value=schema.get("maximum", schema.get("exclusiveMaximum")),
                         exclude_min="exclusiveMinimum" in schema, exclude_max="exclusiveMaximum" in schema,
                         allow_nan=False, allow_infinity=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if not schema or set(schema) <= {"title", "description", "default"}:
        return ANY_JSON
    raise NotImplementedError(f"no strategy for JSON schema {schema}")


def _object(schema: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties = schema.get("properties")
    if not properties:  # a map: {str: value}
        extra = schema.get("additionalProperties", True)
        values = ANY_JSON if extra is True else _strategy(extra, defs)
        return st.dictionaries(TEXT, values, max_size=MAX_ITEMS)
    required = set(schema.get("required", ()))
    return st.fixed_dictionaries(
        {name: _strategy(sub, defs) for name, sub in properties.items() if name in required},
        optional={name: _strategy(sub, defs) for name, sub in properties.items() if name not in required})
