"""The id after a create (or an adoption) written into its manifest: first key, or per env."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kathansync.errors import ConfigError
from kathansync.writeback.yamltree import (
    TO_THE_END,
    dump_fragment,
    file_data,
    insert_lines,
    load_tree,
    new_node,
    save_tree,
    span,
)


class IdReplaced(ConfigError):
    """The file holds another id for this environment: kept, and the new one not written."""

    def __init__(self, path: Path, held: str, new_id: str) -> None:
        super().__init__(
            f"{path}: already holds id {held} (written by another run meanwhile?); not"
            f" replaced by {new_id}"
        )
        self.held = held
        self.new_id = new_id


def write_id(
    path: Path, assistant_id: str, env: str | None, *, replaces: str | None = None
) -> None:
    """Record a created assistant's id: `id:` as the first key, or `id.<env>` in the id mapping.

    With an environment and no id yet, the id is written as `{env: id}`: a plain id would mean
    "this assistant in every environment". Only the id's own lines change. The file must hold
    no id for `env` yet, or `replaces`: an id written meanwhile (a second apply that created
    the same assistant) is never overwritten, which would orphan that assistant: IdReplaced.
    The check reads the very text the write starts from, so no second read can race it.
    """
    tree, text = load_tree(path)
    expected = file_data(text)
    current = expected.get("id")
    held = _held_id(current, env)
    if held is not None and held.lower() not in {assistant_id.lower(), (replaces or "").lower()}:
        raise IdReplaced(path, held, assistant_id)
    if env is not None and current is not None and not isinstance(current, Mapping):
        raise ConfigError(
            f"{path}: `id` is one id for every environment; cannot add one for {env!r}"
        )
    if env is None and isinstance(current, Mapping):
        raise ConfigError(f"{path}: `id` is a mapping of environments; select one with --env")
    expected["id"] = assistant_id if env is None else {**(current or {}), env: assistant_id}
    if "id" not in tree:  # new lines right before the first key, below any header comment
        first = next(iter(tree), None)
        at = tree.lc.key(first)[0] if first is not None else TO_THE_END
        new = {"id": assistant_id if env is None else {env: assistant_id}}
        insert_lines(path, text, at, dump_fragment(new_node(new), text), expected)
    elif env is not None and _block_mapping(tree["id"]) and env not in tree["id"]:
        ids = tree["id"]  # one more line after the last environment's, at their indent
        last = list(ids)[-1]
        line, column = ids.lc.key(last)
        entry = dump_fragment(new_node({env: assistant_id}), text)
        insert_lines(path, text, line + 1, _indented(entry, column), expected)
    else:  # an id replaced: its own line, through the round trip
        if env is None:
            tree["id"] = assistant_id
        else:
            tree["id"][env] = assistant_id
        save_tree(tree, path, text, expected, [span(tree, ("id",))])


def _held_id(raw: Any, env: str | None) -> str | None:
    """The id the file holds for `env` (a shared id with an env: refused separately)."""
    if isinstance(raw, Mapping):
        raw = raw.get(env) if env is not None else None
    elif env is not None:
        return None
    return raw if isinstance(raw, str) else None


def _block_mapping(node: Any) -> bool:
    """A non-empty `id:` mapping written one environment per line (not `{staging: ...}`)."""
    fa = getattr(node, "fa", None)
    return isinstance(node, Mapping) and bool(node) and fa is not None and not fa.flow_style()


def _indented(text: str, column: int) -> str:
    return "".join(" " * column + line + "\n" for line in text.splitlines())
