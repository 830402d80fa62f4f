"""RECORD: after an apply, the ids of created and adopted assistants go into their manifests.

The manifests are the state: without the id in the file, the next plan would create the
assistant again. An id is written only where the plan saw none; an id that appeared in the
file since (another apply, a person) is never replaced, or its assistant would be orphaned.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from kathansync.apply import Outcome, Status
from kathansync.errors import KathansyncError
from kathansync.load import yamlio
from kathansync.models import Manifest
from kathansync.plan import Action


class IdReplaced(KathansyncError):
    """The manifest gained another id since the plan: kept, and the new one not written."""


def record_ids(
    manifests: Sequence[Manifest],
    adopted: Collection[str],
    outcomes: Sequence[Outcome],
    *,
    env: str | None,
    info: Callable[[str], None],
) -> list[str]:
    """Write each created or adopted id into its manifest; one message per id not written.

    Called after the outcomes are shown, so a file that cannot be written never hides what
    happened remotely.
    """
    from kathansync.writeback import write_id  # ruamel round-trip: only after an apply

    by_handle = {m.handle: m for m in manifests}
    failed: list[str] = []
    for outcome in outcomes:
        # A create exists once the server answered with an id, converged or not.
        created = outcome.action is Action.CREATE and outcome.status is not Status.FAILED
        kept = outcome.handle in adopted and outcome.status.ok
        if not outcome.id or not (created or kept):
            continue
        file = by_handle[outcome.handle].file
        try:
            refuse_replacing_an_id(Path(file), outcome.id, env)
            write_id(Path(file), outcome.id, env=env)
        except IdReplaced as error:
            failed.append(f"{file}: {error}")
            continue
        except (KathansyncError, yamlio.SourceError, OSError) as error:
            failed.append(
                f"{file}: could not write id {outcome.id} ({error}); add"
                f" `id: {outcome.id}` by hand, or the next plan will adopt it by name"
            )
            continue
        info(f"{file}: wrote id {outcome.id}; commit this change.")
    return failed


def refuse_replacing_an_id(path: Path, new_id: str, env: str | None) -> None:
    """IdReplaced when the file holds an id (for `env`) other than `new_id`."""
    data = yamlio.parse_fast(yamlio.read_text(path))
    current = data.get("id") if isinstance(data, Mapping) else None
    if isinstance(current, Mapping):
        current = current.get(env) if env is not None else None
    if current is not None and str(current).lower() != new_id.lower():
        raise IdReplaced(
            f"now has id {current}, written since this apply planned: it is kept, and"
            f" {new_id} is not written. Assistant {new_id} was made by this apply: delete it"
            " if it duplicates the other"
        )
