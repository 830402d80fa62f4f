"""The id after a create (or an adoption) written into its manifest: first key, or per env."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from kathansync.errors import ConfigError
from kathansync.writeback.yamltree import TO_THE_END, file_data, load_tree, plain, save_tree, span


def write_id(path: Path, assistant_id: str, env: str | None) -> None:
    """Record a created assistant's id: `id:` as the first key, or `id.<env>` in the id mapping.

    With an environment and no id yet, the id is written as `{env: id}`: a plain id would mean
    "this assistant in every environment". Only the id's own lines change.
    """
    tree, text = load_tree(path)
    expected = file_data(text)
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
