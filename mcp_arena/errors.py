"""The error tree, in one place.

Every error the engine raises is an `ArenaError`: a mistake the caller (usually
the model) can fix. Its message says what is wrong and which call to make next;
the server turns it into an `isError` tool result, the CLI into a one-line
message and exit code 2. Anything else is a bug and is reported as such.

    ArenaError
    ├── InvalidArgument      a value out of range or of the wrong form
    ├── UnknownSession       no such session in this arena
    ├── UnknownTag           no such tag in the session
    ├── DuplicateTag         the tag name is taken
    ├── NothingToSquash      the range to squash is empty
    ├── UnknownSkill         no skill of that name
    └── StoreError           the LanceDB store could not be opened or written
"""

from __future__ import annotations


class ArenaError(Exception):
    """A mistake the caller can fix; the message names the fix."""


class InvalidArgument(ArenaError):
    pass


class UnknownSession(ArenaError):
    pass


class UnknownTag(ArenaError):
    pass


class DuplicateTag(ArenaError):
    pass


class NothingToSquash(ArenaError):
    pass


class UnknownSkill(ArenaError):
    pass


class StoreError(ArenaError):
    pass
