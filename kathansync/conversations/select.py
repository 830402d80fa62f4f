"""SELECT: the suites one run tests and the assistant id each one talks to, all checked before
any request (an unknown --target, an assistant with no id in the selected environment)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kathansync.conversations.suite import Suite, SuiteError, load_suites
from kathansync.errors import ConfigError
from kathansync.load.problems import did_you_mean


@dataclass(frozen=True)
class Selection:
    """Suites to run, handle -> assistant id for each, and the values to mask in output."""

    suites: tuple[Suite, ...]
    ids: Mapping[str, str]
    secrets: frozenset[str] = field(default_factory=frozenset)

    def only(self, handles: Collection[str], ids: Mapping[str, str]) -> Selection:
        """The suites of `handles`, with `ids` laid over the known ones (a created assistant's
        id is known only after apply)."""
        merged = {**self.ids, **ids}
        suites = tuple(s for s in self.suites if s.assistant in handles and s.assistant in merged)
        return Selection(suites, {s.assistant: merged[s.assistant] for s in suites}, self.secrets)


def select_suites(
    directory: Path,
    handle_ids: Mapping[str, str | None],
    *,
    targets: Sequence[str] = (),
    variables: Mapping[str, str] | None = None,
    need_ids: bool = True,
) -> Selection:
    """Load every suite under `directory` (SuiteError lists every problem), keep those of
    `targets` (all when none), and map each to its assistant's id in `handle_ids` (a manifest
    without an id there is a ConfigError when `need_ids`: it has not been created yet)."""
    loaded = load_suites(directory, handle_ids, variables=variables)
    if loaded.problems:
        raise SuiteError(loaded.problems)
    for target in targets:
        if target not in handle_ids:
            hint = did_you_mean(target, handle_ids)
            raise ConfigError(f"--target {target}: no manifest has this handle{hint}")
    suites = tuple(s for s in loaded.suites if not targets or s.assistant in targets)
    missing = sorted({s.assistant for s in suites if not handle_ids[s.assistant]})
    if missing and need_ids:
        raise ConfigError(
            f"no assistant id for {', '.join(missing)} in this environment: apply the manifests"
            " first (or add `id:`), then test (nothing was sent)"
        )
    ids = {s.assistant: handle_ids[s.assistant] or "" for s in suites}
    return Selection(suites, {h: i for h, i in ids.items() if i}, loaded.secrets)
