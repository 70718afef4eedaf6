"""Generated sections of a markdown file: each script owns the text between its two markers
and replaces only that, so several scripts can write one document (``docs/results.md``)::

    <!-- results:envs -->
    ...written by one script, replaced whole on its next run...
    <!-- /results:envs -->

Text outside the markers (introductions written by hand) is kept as it is.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from stateful_rl.agents.persistence import write_atomic

KEY = re.compile(r"[a-z0-9][a-z0-9-]*")
MARKER = re.compile(r"<!-- (/?)results:(\S*) -->")


def markers(key: str) -> tuple[str, str]:
    """The opening and closing marker of section ``key``."""
    if not KEY.fullmatch(key):
        raise ValueError(f"section key must match {KEY.pattern} (got {key!r})")
    return f"<!-- results:{key} -->", f"<!-- /results:{key} -->"


def section_spans(text: str, where: str = "text") -> dict[str, tuple[int, int]]:
    """Each section's key -> (start of its opening marker, end of its closing marker).

    Raises ValueError naming ``where`` and the marker unless every opening marker is
    followed by its own closing marker before any other marker, and no key repeats."""
    spans: dict[str, tuple[int, int]] = {}
    open_key, open_at = None, 0
    for match in MARKER.finditer(text):
        closing, key = match.group(1) == "/", match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        if not KEY.fullmatch(key):
            raise ValueError(f"{where}:{line}: bad section key in {match.group(0)}")
        if open_key is None and closing:
            raise ValueError(f"{where}:{line}: {match.group(0)} closes a section never opened")
        if open_key is not None and not (closing and key == open_key):
            raise ValueError(
                f"{where}:{line}: {match.group(0)} inside section {open_key!r}, "
                f"which needs its closing {markers(open_key)[1]} first"
            )
        if closing:
            spans[key] = (open_at, match.end())
            open_key = None
        elif key in spans:
            raise ValueError(f"{where}:{line}: section {key!r} appears twice")
        else:
            open_key, open_at = key, match.start()
    if open_key is not None:
        raise ValueError(f"{where}: section {open_key!r} has no {markers(open_key)[1]}")
    return spans


def replace_section(text: str, key: str, body: str, where: str = "text") -> str:
    """``text`` with section ``key`` holding ``body`` (appended at the end if new)."""
    start_marker, end_marker = markers(key)
    if MARKER.search(body):
        raise ValueError(f"the body of section {key!r} must not contain section markers")
    block = f"{start_marker}\n{body.strip()}\n{end_marker}"
    span = section_spans(text, where).get(key)
    if span is None:
        return (text.rstrip() + "\n\n" if text.strip() else "") + block + "\n"
    return text[: span[0]] + block + text[span[1] :]


def write_section(path: str | os.PathLike, key: str, body: str) -> None:
    """Replace section ``key`` of the markdown file ``path`` with ``body`` (the file and its
    folder are created if missing; written atomically; other sections are kept)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    write_atomic(path, replace_section(text, key, body, str(path)).encode("utf-8"))
