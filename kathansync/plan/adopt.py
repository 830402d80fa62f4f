"""ADOPT (pure): match manifests without an id to the one remote assistant with the same name.

Adoption instead of duplication: a manifest written for an assistant that already exists (or
one whose create succeeded but whose answer was lost) takes over that assistant rather than
creating a second one. More than one remote with the name is an error asking for an explicit id.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from kathansync.errors import ConfigError
from kathansync.models import Manifest


def find_adoptions(
    manifests_without_id: Sequence[Manifest],
    remotes: Sequence[Mapping[str, Any]],
    *,
    claimed: Collection[str] = (),
) -> dict[str, Mapping[str, Any]]:
    """handle -> the remote to adopt, for each manifest whose `name` exactly one remote has.

    `claimed` holds ids other manifests already reference: those are never adopted twice.
    A manifest without a `name`, or whose name no remote has, is not in the result (a create).
    """
    taken = {i.lower() for i in claimed}
    adoptions: dict[str, Mapping[str, Any]] = {}
    adopted_by: dict[str, str] = {}
    for manifest in manifests_without_id:
        name = manifest.desired.get("name")
        if not isinstance(name, str) or manifest.id:
            continue
        free = (r for r in remotes if str(r.get("id", "")).lower() not in taken)
        matches = [r for r in free if r.get("name") == name]
        shown = "(sensitive)" if "name" in manifest.sensitive else repr(name)
        if len(matches) > 1:
            ids = ", ".join(str(r.get("id")) for r in matches)
            raise ConfigError(
                f"{manifest.file}: {len(matches)} remote assistants are named {shown} ({ids});"
                " write the id of the one this manifest manages as `id:`"
            )
        if not matches:
            continue
        remote_id = str(matches[0].get("id")).lower()
        if remote_id in adopted_by:
            raise ConfigError(
                f"{manifest.file}: {adopted_by[remote_id]} also has the name {shown}:"
                f" only one manifest can manage assistant {matches[0].get('id')}"
            )
        adopted_by[remote_id] = manifest.file
        adoptions[manifest.handle] = matches[0]
    return adoptions


def adopt(
    manifests: Sequence[Manifest], adoptions: Mapping[str, Mapping[str, Any]]
) -> list[Manifest]:
    """The manifests with each adopted remote's id filled in (to be planned as update/no-op)."""
    return [
        replace(m, id=str(adoptions[m.handle]["id"])) if m.handle in adoptions else m
        for m in manifests
    ]
