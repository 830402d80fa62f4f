"""An apply stopped by Ctrl-C: what was done, what was in flight (may have landed), what was not.

Requests already on the wire cannot be called back, so the honest report names them as
uncertain and sends the user to `plan`, which reads the live state again.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from kathansync.apply import Outcome
    from kathansync.commands.common import Options
    from kathansync.plan import Change
    from kathansync.run import ApiAccess, Planned, Run


def send_watched(
    session: Run,
    conn: ApiAccess,
    run: Planned,
    refused: Mapping[str, Outcome],
    opts: Options,
    *,
    backup: bool = True,
) -> list[Outcome]:
    """Apply with progress; on Ctrl-C, say what was done, in flight and not sent (and write the
    ids of assistants already created, or the next plan would create them again)."""
    pending = run.pending(refused)
    watch = ApplyWatch(pending)
    with opts.progress("applying", len(pending)) as tick:

        def done(outcome: Outcome) -> None:
            watch.done(outcome)
            tick()

        try:
            return session.apply(
                conn, run, refused, on_done=done, on_start=watch.start, backup=backup
            )
        except KeyboardInterrupt:
            click.echo(watch.report(), err=True)
            # A create on the wire may still land: remembered, or the next apply sends it again.
            _remember_creates(session, run, [*watch.outcomes(), *watch.unanswered_creates()])
            if session.last_backup is not None:  # the creates that landed: restore can delete
                from kathansync.backup.files import record_outcomes

                record_outcomes(session.last_backup, watch.outcomes(), session.info)
            for message in session.write_back_ids(run, watch.outcomes()):
                click.echo(f"Error: {message}", err=True)
            raise


def _remember_creates(session: Run, run: Planned, outcomes: Sequence[Outcome]) -> None:
    """As Run.apply does after a whole apply: creates that may have landed, and settled ones."""
    from kathansync.state import PendingCreates, creates_settled

    maybe, done = creates_settled(run.plan.changes, run.manifests, outcomes)
    if maybe or done:
        settings = session.settings
        PendingCreates(settings.state_dir).update(
            settings.api_url, settings.environment, add=maybe, remove=done
        )


class ApplyWatch:
    """Hears each change start and finish (from the apply threads) and reports on Ctrl-C."""

    def __init__(self, pending: Sequence[Change]) -> None:
        self._order = [change.handle for change in pending]
        self._creates = {c.handle: c for c in pending if c.action.value == "create"}
        self._started: set[str] = set()
        self._finished: dict[str, Outcome] = {}
        self._lock = threading.Lock()

    def start(self, change: Change) -> None:
        with self._lock:
            self._started.add(change.handle)

    def done(self, outcome: Outcome) -> None:
        with self._lock:
            self._finished[outcome.handle] = outcome

    def outcomes(self) -> list[Outcome]:
        """What finished, in plan order (created ids among them still belong in manifests)."""
        with self._lock:
            return [self._finished[h] for h in self._order if h in self._finished]

    def unanswered_creates(self) -> list[Outcome]:
        """The creates sent and never answered: they may have landed."""
        from kathansync.apply import Outcome, Status

        with self._lock:
            sent = [h for h in self._creates if h in self._started and h not in self._finished]
        return [
            Outcome(h, None, self._creates[h].action, Status.FAILED, maybe_created=True)
            for h in sent
        ]

    def report(self) -> str:
        with self._lock:
            finished = dict(self._finished)
            started = set(self._started)
        done = [f"{h} ({finished[h].status.value})" for h in self._order if h in finished]
        in_flight = [h for h in self._order if h in started and h not in finished]
        not_sent = [h for h in self._order if h not in started]
        lines = [
            "Apply interrupted.",
            f"  done: {', '.join(done) or 'none'}",
            f"  in flight, may have landed: {', '.join(in_flight) or 'none'}",
            f"  not sent: {', '.join(not_sent) or 'none'}",
            "Run `kathansync plan` to see where each assistant stands now.",
        ]
        return "\n".join(lines)
