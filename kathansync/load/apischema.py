"""The saved API schema (`kathan-api-schema.json`): fields the API documents that this version's
models do not know yet, and a check of a value against such a field's JSON Schema types.

The file is written by `kathansync schema --update` (the remote side) and committed, so
validation stays offline and a schema change is reviewed. Only a small, well-defined part of
JSON Schema is read: `type`, `anyOf`/`oneOf`, `enum`, `items`, `properties` and
`additionalProperties: false` — what FastAPI writes for a request model. A keyword outside it
is not checked here; the API still has the last word.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kathansync.load import yamlio
from kathansync.load.problems import describe_value, did_you_mean, shown_path
from kathansync.load.spec_shape import SHAPE
from kathansync.tree import LeafPath, Loc

API_SCHEMA_NAME = "kathan-api-schema.json"
FORMAT_VERSION = "1"
MAX_SCHEMA_BYTES = 4 * 1024 * 1024  # an OpenAPI request body is tens of KiB

_EXPECTED = {
    "string": "a string",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "array": "a list",
    "object": "a mapping",
    "null": "null",
}


class ApiSchemaError(Exception):
    """The saved schema file cannot be used: the message says why."""


@dataclass(frozen=True)
class ApiSchema:
    """The top-level properties of the PUT /assistants/{assistant_id} body, as saved."""

    file: str
    properties: Mapping[str, Any]

    def extra_fields(self, shape: Mapping[str, Any] = SHAPE) -> dict[LeafPath, Any]:
        """The documented fields the models lack, by path: at the top level, and inside the
        objects the models do know (`voice.new_setting`). `id` is the manifest's own key.
        `shape` is the models' (spec_shape.py): no pydantic is imported to read it."""
        found: dict[LeafPath, Any] = {}
        _collect(self.properties, shape, (), found)
        found.pop(("id",), None)
        return found


def _collect(
    properties: Mapping[str, Any],
    shape: Mapping[str, Any],
    path: LeafPath,
    found: dict[LeafPath, Any],
) -> None:
    for name, spec in properties.items():
        if name not in shape:
            found[(*path, name)] = spec
            continue
        inner = _object_properties(spec)
        if inner is not None and isinstance(shape[name], dict):
            _collect(inner, shape[name], (*path, name), found)


def _object_properties(schema: Any) -> Mapping[str, Any] | None:
    """The properties of an object schema, looking through `anyOf` (FastAPI's Optional)."""
    if not isinstance(schema, Mapping):
        return None
    properties = schema.get("properties")
    if isinstance(properties, Mapping):
        return properties
    for option in _options(schema):
        found = _object_properties(option)
        if found is not None:
            return found
    return None


def load_api_schema(root: Path) -> ApiSchema | None:
    """The schema saved beside kathansync.yaml, or None without one; ApiSchemaError if unusable."""
    path = root / API_SCHEMA_NAME
    if not path.exists() and not path.is_symlink():
        return None
    # The file comes with the pull request like the manifests: bounded the same way.
    try:
        data = json.loads(yamlio.read_text(path, max_bytes=MAX_SCHEMA_BYTES))
        yamlio.check_expansion(data, 200_000, max_text=MAX_SCHEMA_BYTES)
    except yamlio.SourceError as exc:
        raise ApiSchemaError(exc.message) from None
    except ValueError as exc:
        raise ApiSchemaError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise ApiSchemaError(f"nested more than {yamlio.MAX_DEPTH} levels deep") from None
    if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
        raise ApiSchemaError(
            f"expected format_version {FORMAT_VERSION!r}: rewrite it with `kathansync schema"
            " --update`"
        )
    schema = data.get("schema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(properties, dict):
        raise ApiSchemaError('expected "schema" with "properties": rewrite it with --update')
    return ApiSchema(path.name, properties)


def check_value(value: Any, schema: Any, loc: Loc) -> list[tuple[Loc, str, bool]]:
    """(loc, message, points-at-key) for each place where `value` breaks `schema`'s types."""
    if not isinstance(schema, dict):
        return []
    options = _options(schema)
    if options:
        if any(not check_value(value, option, loc) for option in options):
            return []
        return [(loc, _mismatch(loc, _describe(schema), value), False)]
    if "enum" in schema and isinstance(schema["enum"], list) and value not in schema["enum"]:
        allowed = ", ".join(json.dumps(v) for v in schema["enum"])
        return [(loc, _mismatch(loc, f"one of {allowed}", value), False)]
    types = _types(schema)
    if types and not any(_is_type(value, name) for name in types):
        return [(loc, _mismatch(loc, _describe(schema), value), False)]
    if isinstance(value, list):
        return [
            p
            for i, item in enumerate(value)
            for p in check_value(item, schema.get("items"), (*loc, i))
        ]
    if isinstance(value, dict):
        return _check_object(value, schema, loc)
    return []


def _check_object(
    value: dict[str, Any], schema: dict[str, Any], loc: Loc
) -> list[tuple[Loc, str, bool]]:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, dict) else {}
    found: list[tuple[Loc, str, bool]] = []
    for key, item in value.items():
        if key in properties:
            found.extend(check_value(item, properties[key], (*loc, key)))
        elif schema.get("additionalProperties") is False:
            hint = did_you_mean(key, properties)
            found.append(((*loc, key), f"unknown key {key!r} in {shown_path(loc)}{hint}", True))
    return found


def _options(schema: Mapping[str, Any]) -> list[Any]:
    """The alternatives of `anyOf` / `oneOf` (a file from a pull request may hold anything)."""
    options = schema.get("anyOf") or schema.get("oneOf")
    return options if isinstance(options, list) else []


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, str):
        return [kind]
    return [k for k in kind if isinstance(k, str)] if isinstance(kind, list) else []


def _is_type(value: Any, name: str) -> bool:
    if name in ("number", "integer") and isinstance(value, float) and not math.isfinite(value):
        return False  # JSON has no NaN or Infinity
    checks = {
        "string": isinstance(value, str),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
        "null": value is None,
    }
    return checks.get(name, True)  # a type name we do not know: not ours to refuse


def _describe(schema: Mapping[str, Any]) -> str:
    """`a string or null`: what the schema's types accept, in the words messages use."""
    names: list[str] = []
    for option in [schema, *_options(schema)]:
        for kind in _types(option) if isinstance(option, Mapping) else []:
            name = _EXPECTED.get(kind, kind)
            if name not in names:
                names.append(name)
    return " or ".join(names) or "a value of the documented type"


def _mismatch(loc: Loc, expected: str, value: Any) -> str:
    return f"{shown_path(loc)}: expected {expected}, got {describe_value(value)}"


def describe_type(schema: Any) -> str:
    """The documented type of a field, for the note that names it."""
    return _describe(schema) if isinstance(schema, Mapping) else "any value"
