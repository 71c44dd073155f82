"""The one base of every error OncoGPT reports to a user.

Each module keeps its own error type (ConfigError, ModelError, ...) so a message says where it
came from, and each also derives from :class:`OncoGPTError`, so the CLI's one-line error
handler catches them all with one ``except`` and none escapes as a traceback.
"""

from __future__ import annotations


class OncoGPTError(Exception):
    """Base of every user-facing OncoGPT error; its message is one line naming the file,
    line or field at fault."""


class GenerationError(OncoGPTError, ValueError):
    """A request cannot be answered as given; the message says why. Lives here, not in
    oncogpt.generate, because the engine and its remote backend (oncogpt.remote) both raise it."""
