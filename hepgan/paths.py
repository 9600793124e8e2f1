"""Whether the operating system would accept a text as a path: the one check the config and the command line share."""

from __future__ import annotations

import os

NAME_MAX = 255
"""Longest file name (bytes) most file systems allow; the nearest existing folder's own limit is used when known."""
PATH_MAX = 4096
"""Longest path (bytes) the operating system accepts."""


def _path_limit(path: str, name: str, default: int) -> int:
    """``os.pathconf`` limit ``name`` of the nearest existing folder above ``path``, else ``default``."""
    folder = os.path.dirname(os.path.abspath(path))
    while folder and not os.path.isdir(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    try:
        return int(os.pathconf(folder or ".", name))
    except (OSError, ValueError):
        return default


def path_problem(text: str) -> str | None:
    """Why the operating system would refuse ``text`` as a path, or None.

    Refused: NUL characters, a component (file or folder name) longer than the file system's
    NAME_MAX bytes, a whole path longer than PATH_MAX bytes.
    """
    if "\x00" in text:
        return "expected a path without NUL characters"
    encoded = os.fsencode(text)
    longest = max(encoded.split(b"/"), key=len)
    limit = _path_limit(text, "PC_NAME_MAX", NAME_MAX)
    if len(longest) > limit:
        name = os.fsdecode(longest)
        shown = name if len(name) <= 40 else name[:37] + "..."
        return f"the name {shown!r} is {len(longest)} bytes long; the file system allows at most {limit}"
    limit = _path_limit(text, "PC_PATH_MAX", PATH_MAX)
    if len(encoded) >= limit:
        return f"the path is {len(encoded)} bytes long; the operating system allows fewer than {limit}"
    return None
