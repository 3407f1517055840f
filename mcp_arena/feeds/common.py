"""Small helpers every transcript parser shares: timestamps, argument JSON,
flattening of content blocks."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)

IMAGE_PLACEHOLDER = "[image]"


def unix_seconds(stamp: Any) -> float | None:
    """ISO-8601 text or a number → unix seconds; None when absent or unreadable.

    A stamp without a zone (OpenHands writes those) is taken as UTC so that
    the same file gives the same numbers on every machine.
    """
    if isinstance(stamp, bool) or stamp is None:
        return None
    if isinstance(stamp, (int, float)):
        return float(stamp)
    if not isinstance(stamp, str) or not stamp:
        return None
    try:
        moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def args_json(arguments: Any) -> str:
    """Tool arguments as JSON with sorted keys: the same call gives the same bytes."""
    return json.dumps(arguments, sort_keys=True, ensure_ascii=False, default=str)


def dict_field(record: dict[str, Any], key: str) -> dict[str, Any]:
    """The record's `key` when it holds a JSON object, else an empty one (absent, null, or another type)."""
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def parse_arguments(raw: Any) -> Any:
    """An OpenAI-style `arguments` string → its value; text that is not JSON is kept as is."""
    if not isinstance(raw, str):
        return raw if raw is not None else {}
    try:
        return json.loads(raw)
    except ValueError:
        return {"raw": raw}


def flatten_content(content: Any) -> str:
    """A message or tool-result content (text, or a list of blocks) → plain text.

    Images become a short placeholder: their bytes are not text the arena can
    keep or search, only the fact that one was there.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return _block_text(content)
    if isinstance(content, list):
        return "\n".join(part for part in (_block_text(b) for b in content) if part)
    return str(content)


def _block_text(block: Any) -> str:
    if isinstance(block, str):
        return block
    if not isinstance(block, dict):
        return str(block)
    kind = block.get("type")
    if kind == "text" or (kind is None and "text" in block):
        return str(block.get("text") or "")
    if kind in ("image", "image_url", "input_image"):
        media = dict_field(block, "source").get("media_type")
        return f"[image: {media}]" if media else IMAGE_PLACEHOLDER
    if kind == "tool_reference":
        return f"[tool: {block.get('tool_name', '')}]"
    if "content" in block:
        return flatten_content(block["content"])
    return f"[{kind}]" if kind else ""


def decode_json_line(raw: bytes, where: str = "") -> dict[str, Any] | None:
    """One JSONL line → its object; None (with a warning) when it is not a JSON object.

    Bytes that are not UTF-8 are replaced rather than fatal: one bad byte in a
    tool output must not hide the rest of a session.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        log.warning("%s is not valid UTF-8; undecodable bytes replaced", where or "a line")
        text = raw.decode("utf-8", errors="replace")
    text = text.strip()
    if not text:
        return None
    try:
        record = json.loads(text)
    except ValueError as exc:
        log.warning("%s is not JSON (%s); skipped", where or "a line", exc)
        return None
    return record if isinstance(record, dict) else None
