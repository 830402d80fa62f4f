"""The API's own schema: the PUT /assistants/{assistant_id} request body from openapi.json.

Pure functions (the fetch is KathanClient.get_openapi): find the operation, resolve every
`$ref` inline, and wrap the result in the saved-file format the loader reads
(`kathan-api-schema.json` beside kathansync.yaml, committed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from kathansync.errors import ApiError
from kathansync.load.apischema import FORMAT_VERSION

_UPDATE_PATH = re.compile(r"^/assistants/\{[^}/]+\}/?$")


def request_schema(document: Any) -> dict[str, Any]:
    """The JSON Schema of the PUT /assistants/{id} body, every $ref resolved inline."""
    if not isinstance(document, Mapping) or not isinstance(document.get("paths"), Mapping):
        raise ApiError("openapi.json has no `paths`: is this the Kathan API?")
    for path, operations in document["paths"].items():
        if not _UPDATE_PATH.match(str(path)) or not isinstance(operations, Mapping):
            continue
        put = operations.get("put")
        body = _get(put, "requestBody", "content", "application/json", "schema")
        if body is None:
            break
        try:
            schema = resolve_refs(body, document)
        except RecursionError:  # a server's document, parsed fine, too deep to walk
            raise ApiError(f"openapi.json: the PUT {path} body is nested too deeply") from None
        if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
            raise ApiError(f"openapi.json: the PUT {path} body is not an object with properties")
        return schema
    raise ApiError("openapi.json documents no PUT /assistants/{assistant_id} with a JSON body")


MAX_INLINED = 100_000  # schema nodes once inlined: a request body has hundreds


def resolve_refs(
    node: Any,
    document: Mapping[str, Any],
    chain: tuple[str, ...] = (),
    left: list[int] | None = None,
) -> Any:
    """`node` with every local `$ref` ("#/components/schemas/X") replaced by its target.

    Sibling keys of a `$ref` (a description, a default) are kept over the target's. A cycle
    (a schema that contains itself) cannot be inlined: it is an error naming the reference, and
    so is a schema that inlines past MAX_INLINED nodes (each level referring to the next twice
    doubles it: a server's document must not exhaust memory).
    """
    left = [MAX_INLINED] if left is None else left
    left[0] -= 1
    if left[0] < 0:
        raise ApiError(f"openapi.json: the request schema inlines to over {MAX_INLINED} nodes")
    if isinstance(node, list):
        return [resolve_refs(item, document, chain, left) for item in node]
    if not isinstance(node, Mapping):
        return node
    resolved = {k: resolve_refs(v, document, chain, left) for k, v in node.items() if k != "$ref"}
    if "$ref" not in node:
        return resolved
    ref = str(node["$ref"])
    if ref in chain:
        raise ApiError(f"openapi.json: {ref} contains itself; it cannot be saved inline")
    return {**resolve_refs(_target(ref, document), document, (*chain, ref), left), **resolved}


def _target(ref: str, document: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#/"):
        raise ApiError(f"openapi.json: only local references are supported, got {ref!r}")
    node: Any = document
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            raise ApiError(f"openapi.json: reference {ref} points nowhere")
        node = node[part]
    if not isinstance(node, Mapping):
        raise ApiError(f"openapi.json: reference {ref} is not a schema")
    return node


def _get(node: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def saved_schema(document: Any, source: str, fetched_at: datetime) -> dict[str, Any]:
    """The saved file's content: the agreed format, with where and when it came from."""
    return {
        "format_version": FORMAT_VERSION,
        "source": source,
        "fetched_at": fetched_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "schema": request_schema(document),
    }


def dump(data: Mapping[str, Any]) -> str:
    """Stable text for review in a pull request: sorted keys, two-space indent, final newline."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
