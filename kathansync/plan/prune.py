"""PRUNE (pure): plan deletes for remote assistants that no manifest references, safely.

Only ever called under `--prune`. Like octoDNS's update/delete threshold, a prune that would
delete more than a fraction of the remote assistants is refused unless forced: an empty or
wrongly selected manifests directory must not wipe an account.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from kathansync.errors import ConfigError
from kathansync.models import Manifest
from kathansync.plan.change import Change, FingerprintKeys, plan_delete

DEFAULT_THRESHOLD = 0.25
MIN_ALLOWED = 2  # deleting this many is always allowed, however few assistants there are


def plan_deletes(
    remotes: Sequence[Mapping[str, Any]],
    manifests: Sequence[Manifest],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    force: bool,
    keys: FingerprintKeys | None = None,
) -> list[Change]:
    """A `delete` Change for every remote assistant no manifest references, by name then id.

    `manifests` must be every manifest of the selected environment (not a --target subset).
    Raises ConfigError when the deletes exceed max(MIN_ALLOWED, threshold * remotes), unless
    `force`. The handle of a delete is the remote's id: it has no manifest. With `keys`, each
    delete fingerprints the remote, so a saved plan refuses it if the assistant moved since.
    """
    referenced = {m.id.lower() for m in manifests if m.id}
    orphans = [r for r in remotes if str(r.get("id", "")).lower() not in referenced]
    orphans.sort(key=lambda r: (str(r.get("name") or ""), str(r.get("id"))))
    # A whole number of assistants; the epsilon keeps 0.29 x 100 from flooring to 28.
    allowed = max(MIN_ALLOWED, math.floor(threshold * len(remotes) + 1e-9))
    if len(orphans) > allowed and not force:
        raise ConfigError(
            f"--prune would delete {len(orphans)} of {len(remotes)} remote assistants, more than"
            f" the {allowed} allowed (prune_threshold {threshold:.0%}, minimum {MIN_ALLOWED});"
            " check --dir and --env, or pass --force"
        )
    return [plan_delete(remote, keys) for remote in orphans]
