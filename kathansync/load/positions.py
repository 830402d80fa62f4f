"""Line and column of a path in a round-trip YAML tree: where a problem points the user."""

from __future__ import annotations

from typing import Any


def position(tree: Any, loc: tuple[str | int, ...], *, at_key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of `loc` in a round-trip tree: the value, or its key with `at_key`.

    Stops at the deepest part of `loc` that exists (a key the file does not have, or one that
    came in through a `<<:` merge, points at the mapping that should hold it).
    """
    line, column = _start(tree)
    node = tree
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        lc = getattr(node, "lc", None)
        if lc is None:
            break
        try:
            if isinstance(node, dict) and part in node:
                pos = lc.key(part) if (last and at_key) else lc.value(part)
            elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                pos = lc.item(part)
            else:
                break
            if pos is not None and not at_key and isinstance(node, dict) and node[part] is None:
                # An empty value has no token of its own: ruamel marks where the next one
                # starts (another key, or EOF). The key's line is where the user looks.
                key_pos = lc.key(part)
                if key_pos is not None and key_pos[0] != pos[0]:
                    pos = key_pos
        except (KeyError, TypeError, AttributeError):
            break
        if pos is None:  # a key that came in through a `<<:` merge has no position here
            break
        line, column = pos[0] + 1, pos[1] + 1
        node = node[part]
    return line, column


def _start(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return (0, 0)
    return lc.line + 1, lc.col + 1
