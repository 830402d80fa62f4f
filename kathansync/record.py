"""RECORD: after an apply, the ids of created and adopted assistants go into their manifests.

The manifests are the state: without the id in the file, the next plan would create the
assistant again. An id is written only where the plan saw none; an id that appeared in the
file since (another apply, a person) is never replaced, or its assistant would be orphaned.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from kathansync.apply import Outcome, Status
from kathansync.errors import KathansyncError
from kathansync.load import yamlio
from kathansync.models import Manifest
from kathansync.plan import Action


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
    by_handle = {m.handle: m for m in manifests}
    failed: list[str] = []
    for outcome in _to_record(adopted, outcomes):
        # ruamel round-trip (~30 ms to import): only when an id is to be written. write_id
        # itself refuses to replace an id the file gained since the plan (IdReplaced), from
        # the same read it writes from.
        from kathansync.writeback import IdReplaced, write_id

        assert outcome.id is not None
        file = by_handle[outcome.handle].file
        try:
            write_id(Path(file), outcome.id, env=env)
        except IdReplaced as error:
            failed.append(f"{file}: {kept_instead(error.held, error.new_id)}")
            continue
        except (KathansyncError, yamlio.SourceError, OSError) as error:
            failed.append(
                f"{file}: could not write id {outcome.id} ({error}); add"
                f" `id: {outcome.id}` by hand, or the next plan will adopt it by name"
            )
            continue
        info(f"{file}: wrote id {outcome.id}; commit this change.")
    return failed


def _to_record(adopted: Collection[str], outcomes: Sequence[Outcome]) -> list[Outcome]:
    """The outcomes with an id to write: a create the server answered with an id (converged
    or not), or an adoption that went through."""
    return [
        o
        for o in outcomes
        if o.id
        and (
            (o.action is Action.CREATE and o.status is not Status.FAILED)
            or (o.handle in adopted and o.status.ok)
        )
    ]


def kept_instead(held: str, new_id: str) -> str:
    """What to do when the file gained another id since the plan: that one is kept."""
    return (
        f"now has id {held}, written since this apply planned: it is kept, and {new_id} is"
        f" not written. Assistant {new_id} was made by this apply: delete it if it"
        " duplicates the other"
    )
