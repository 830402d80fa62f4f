"""The id after a create (or an adoption) written into its manifest: first key, or per env."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from kathansync.errors import ConfigError
from kathansync.writeback.yamltree import TO_THE_END, file_data, load_tree, plain, save_tree, span


def write_id(
    path: Path, assistant_id: str, env: str | None, *, replaces: str | None = None
) -> None:
    """Record a created assistant's id: `id:` as the first key, or `id.<env>` in the id mapping.

    With an environment and no id yet, the id is written as `{env: id}`: a plain id would mean
    "this assistant in every environment". Only the id's own lines change. The file must hold
    no id for `env` yet, or `replaces`: an id written meanwhile (a second apply that created
    the same assistant) is never overwritten, which would orphan that assistant.
    """
    tree, text = load_tree(path)
    expected = file_data(text)
    current = _current_id(expected.get("id"), env)
    mine = {assistant_id.lower(), (replaces or "").lower()}
    if current is not None and current.lower() not in mine:
        raise ConfigError(
            f"{path}: already holds id {current} (written by another run meanwhile?); not"
            f" replaced by {assistant_id}"
        )
    if "id" in tree:
        allowed = [span(tree, ("id",))]
    else:  # inserted right before the first key, below any header comment
        first = next(iter(tree), None)
        at = tree.lc.key(first)[0] if first is not None else TO_THE_END
        allowed = [(at, at)]
    new = _new_id(path, tree.get("id"), assistant_id, env)
    if "id" in tree:
        tree["id"] = new
    else:
        tree.insert(0, "id", new)
    expected["id"] = plain(new)
    save_tree(tree, path, text, expected, allowed)


def _current_id(raw: Any, env: str | None) -> str | None:
    """The id the file holds for `env` (a shared id with an env: `_new_id` refuses that)."""
    if isinstance(raw, dict):
        raw = raw.get(env) if env is not None else None
    elif env is not None:
        return None
    return raw if isinstance(raw, str) else None


def _new_id(path: Path, current: Any, assistant_id: str, env: str | None) -> Any:
    """The `id` value with `assistant_id` recorded: the id, or the env mapping with it added."""
    from ruamel.yaml.comments import CommentedMap

    if env is None:
        if isinstance(current, Mapping):
            raise ConfigError(f"{path}: `id` is a mapping of environments; select one with --env")
        return assistant_id
    if isinstance(current, MutableMapping):
        current[env] = assistant_id  # in place: the other environments keep their comments
        return current
    if current is not None:
        raise ConfigError(
            f"{path}: `id` is one id for every environment; cannot add one for {env!r}"
        )
    ids = CommentedMap()
    ids[env] = assistant_id
    return ids
