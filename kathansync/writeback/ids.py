"""The id after a create (or an adoption) written into its manifest: first key, or per env."""

from __future__ import annotations

from collections.abc import Mapping, MutableMapping
from pathlib import Path

from kathansync.errors import ConfigError
from kathansync.writeback.yamltree import file_data, load_tree, save_tree


def write_id(path: Path, assistant_id: str, env: str | None) -> None:
    """Record a created assistant's id: `id:` as the first key, or `id.<env>` in the id mapping.

    With an environment and no id yet, the id is written as `{env: id}`: a plain id would mean
    "this assistant in every environment".
    """
    from ruamel.yaml.comments import CommentedMap

    tree, text = load_tree(path)
    expected = file_data(text)
    current = tree.get("id")
    if env is None:
        if isinstance(current, Mapping):
            raise ConfigError(f"{path}: `id` is a mapping of environments; select one with --env")
        if "id" in tree:
            tree["id"] = assistant_id
        else:
            tree.insert(0, "id", assistant_id)
    elif isinstance(current, MutableMapping):
        current[env] = assistant_id
    elif current is None:
        ids = CommentedMap()
        ids[env] = assistant_id
        if "id" in tree:
            tree["id"] = ids
        else:
            tree.insert(0, "id", ids)
    else:
        raise ConfigError(
            f"{path}: `id` is one id for every environment; cannot add one for {env!r}"
        )
    if env is None:
        expected["id"] = assistant_id
    else:
        ids = expected.get("id")
        expected["id"] = {**(ids if isinstance(ids, dict) else {}), env: assistant_id}
    save_tree(tree, path, text, expected, None)
