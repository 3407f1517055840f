"""Bounds on what an agent may send that more than one tool shares.

A limit only one tool needs stays beside that tool's validation.
"""

from __future__ import annotations

# A tag's note and an artifact record's note: a line or two that says why, not a document.
MAX_NOTE_CHARS = 500
