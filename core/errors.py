"""The user-error contract: one base class for errors a user caused, one way to quote user input.

Pages and the CLI catch :class:`UserError` and show its message as one sentence (the CLI exits 2);
anything else is a bug. Feature packages subclass it (``ImageError``, ``ModelError``, ...) so the
catching side needs to know only this module. A message that quotes what a user typed, uploaded or
put in a link goes through :func:`quote` (one line, at most :data:`MAX_ECHO` characters), and a page
that renders it as Markdown escapes it first (:func:`markdown_text`).

No imports beyond the standard library: every floor of the project may use this module.
"""

from __future__ import annotations

import re

MAX_ECHO = 80  # characters of user content quoted in a message


class UserError(ValueError):
    """An input a user gave is unusable; the message is one sentence saying which and what to do.

    A ``ValueError`` so that older call sites catching ``ValueError`` keep working.
    """


def quote(text: object, limit: int = MAX_ECHO) -> str:
    """User content for a message: at most ``limit`` characters, on one line."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: max(0, limit - 3)] + "..."


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$&\"'])")


def markdown_text(text: object, limit: int = MAX_ECHO) -> str:
    """``quote(text)`` made inert for Markdown and HTML (Streamlit's ``st.markdown``, captions, notes):
    every character that could start a link, an image, HTML, a formula or emphasis is backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", quote(text, limit))
