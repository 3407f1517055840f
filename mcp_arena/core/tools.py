"""The names of the arena's six tools, defined once.

The server advertises them, the engine logs its calls under them, the transcript
follower skips the host's copies of them, and the lab measures and filters them.
A name here is part of the host's system prompt: it never changes within a process.
"""

from __future__ import annotations

from enum import StrEnum


class ToolName(StrEnum):
    CONTEXT_STATUS = "context_status"
    TAG = "tag"
    SQUASH = "squash"
    LOAD_SKILL = "load_skill"
    MEMORY_SEARCH = "memory_search"
    ARTIFACT_INDEX = "artifact_index"


TOOL_NAMES: tuple[str, ...] = tuple(name.value for name in ToolName)  # in the order the server lists them
