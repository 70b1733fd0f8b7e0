"""Two JSON summaries compared value by value: numbers to a relative tolerance (sums of floating-point
numbers may differ in their last bits between engines), everything else exactly."""

from __future__ import annotations

import math

RELATIVE = 1e-9


def differences(before, after, relative: float = RELATIVE, path: str = "$") -> tuple[list[str], list[str]]:
    """(paths whose numbers differ within the tolerance, paths that differ beyond it or in kind)."""
    close: list[str] = []
    beyond: list[str] = []
    _walk(before, after, relative, path, close, beyond)
    return close, beyond


def _walk(before, after, relative, path, close, beyond) -> None:
    if isinstance(before, dict) and isinstance(after, dict):
        for key in before.keys() | after.keys():
            if key not in before or key not in after:
                beyond.append(f"{path}.{key}: only {'after' if key in after else 'before'}")
            else:
                _walk(before[key], after[key], relative, f"{path}.{key}", close, beyond)
    elif isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            beyond.append(f"{path}: {len(before)} items before, {len(after)} after")
        for i, (b, a) in enumerate(zip(before, after)):
            _walk(b, a, relative, f"{path}[{i}]", close, beyond)
    elif _number(before) and _number(after):
        if before != after:
            same = math.isclose(before, after, rel_tol=relative, abs_tol=0.0)
            (close if same else beyond).append(f"{path}: {before!r} before, {after!r} after")
    elif before != after:
        beyond.append(f"{path}: {before!r} before, {after!r} after")


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
