"""Compact tool input schemas: the same contract in fewer tokens.

Tool schemas are part of every request of every session, so the server
advertises a compacted copy of what pydantic generates: no `title`s, `$defs`
inlined, and `anyOf: [X, null]` of optional arguments reduced to X (an
optional argument is simply left out). Validation still runs on the full
pydantic model inside the SDK.
"""

from __future__ import annotations

from typing import Any


def compact(schema: dict[str, Any]) -> dict[str, Any]:
    definitions = schema.get("$defs", {})
    compacted: dict[str, Any] = _compact(schema, definitions)  # an object compacts to an object
    return compacted


def _compact(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_compact(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return _compact(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
    variants = node.get("anyOf")
    if variants and any(v == {"type": "null"} for v in variants):
        rest = [v for v in variants if v != {"type": "null"}]
        if len(rest) == 1:
            merged = {**{k: v for k, v in node.items() if k not in ("anyOf", "default")}, **rest[0]}
            return _compact(merged, definitions)
    dropped = {"title", "$defs"}
    if node.get("default", ...) is None:
        dropped.add("default")
    return {key: _compact(value, definitions) for key, value in node.items() if key not in dropped}
