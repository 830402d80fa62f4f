"""The `id` of a manifest: a UUID or a per-environment mapping, and one UUID per file."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from kathansync.errors import Problem
from kathansync.load.discover import CONFIG_NAME
from kathansync.load.problems import describe_value, did_you_mean, shown_path
from kathansync.load.source import Source
from kathansync.manifest import UUID_EXPECTED, is_uuid
from kathansync.tree import Loc


class IdChecker:
    """Checks ids for one run and remembers them, to find one UUID in two files.

    Ids are kept in lower case: the same assistant is the same string everywhere (duplicate
    checks, prune, adopt). The file itself is never rewritten.
    """

    def __init__(self, env: str | None, environments: Collection[str] | None) -> None:
        self.env = env
        self.environments = environments
        self.ids: list[tuple[str, str | None, Source, Loc]] = []  # (uuid, env, file, loc)

    def check(self, source: Source, raw: Any) -> str | None:
        """Validate `id` and pick the one for the selected environment (None: create)."""
        loc: Loc = ("id",)
        if isinstance(raw, dict):
            return self.check_mapping(source, raw)
        if isinstance(raw, str) and is_uuid(raw):
            self.ids.append((raw.lower(), None, source, loc))
            return raw.lower()
        got = "(sensitive)" if source.is_sensitive(loc) else describe_value(raw)
        expected = UUID_EXPECTED
        if not isinstance(raw, str):
            expected += " or a mapping of environment name to UUID"
        source.problem(loc, f"id: {expected}, got {got}")
        return None

    def check_mapping(self, source: Source, raw: dict[str, Any]) -> str | None:
        for env_name, env_id in raw.items():
            loc: Loc = ("id", env_name)
            if self.environments is not None and env_name not in self.environments:
                known = ", ".join(sorted(self.environments)) or "none defined"
                source.problem(
                    loc,
                    f"unknown environment {env_name!r} in id (known in {CONFIG_NAME}: {known})"
                    f"{did_you_mean(env_name, self.environments)}",
                    at_key=True,
                )
            if isinstance(env_id, str) and is_uuid(env_id):
                self.ids.append((env_id.lower(), env_name, source, loc))
            else:
                got = "(sensitive)" if source.is_sensitive(loc) else describe_value(env_id)
                source.problem(loc, f"{shown_path(loc)}: {UUID_EXPECTED}, got {got}")
        if self.env is None:
            source.problem(
                ("id",), "id is a per-environment mapping: choose one with --env", at_key=True
            )
            return None
        chosen = raw.get(self.env)
        if self.env not in raw and self.environments is None:
            # Without the list of environments a misspelling can only be guessed: say so,
            # since the assistant would be created a second time.
            hint = did_you_mean(self.env, [str(k) for k in raw])
            if hint:
                source.problem(
                    ("id",),
                    f"no id for environment {self.env!r}: it will be created{hint}",
                    at_key=True,
                    severity="warning",
                )
        return chosen.lower() if isinstance(chosen, str) and is_uuid(chosen) else None

    def duplicates(self) -> list[Problem]:
        """One UUID in two files (same environment, or one of them plain) is an error."""
        by_id: dict[str, list[tuple[str | None, Source, Loc]]] = {}
        for value, env_name, source, loc in self.ids:
            by_id.setdefault(value, []).append((env_name, source, loc))
        found: list[Problem] = []
        for value, uses in by_id.items():
            for env_a, source_a, loc_a in uses:
                clashes = [
                    other.display
                    for env_b, other, _ in uses
                    if other is not source_a and (env_a is None or env_b is None or env_a == env_b)
                ]
                if clashes:
                    found.append(
                        source_a.problem(
                            loc_a,
                            f"id {value} is also used by {', '.join(sorted(set(clashes)))}",
                        )
                    )
        return found
