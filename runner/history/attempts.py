"""Attempts of one execution. A run whose process died (a server crash, a dead `flows
worker`) is taken over under the SAME execution id, so the id a client was handed ends
in the run's real final state. The history records each take-over as a RESTARTED event
(Kestra's state for an execution started again) above every seq the dead attempt wrote;
the new attempt's events continue above it, so "a run's state is its highest seq" holds.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from runner.errors import GitflowsError
from runner.events import State, iso
from runner.history.records import HistoryEvent
from runner.history.store import Store

log = logging.getLogger("gitflows.history")
# when the dead attempt's events cannot be read, the next attempt writes above this: no
# attempt writes that many state changes, so the newest attempt still has the highest seq
UNREAD_SEQ = 100_000


@dataclass(frozen=True)
class TakeOver:
    ended: str | None  # the run had ended (its final state): do not run it again
    seq_from: int  # the next attempt's first event gets seq_from + 1


def take_over(store: Store, commit: str, flow: str, trigger: str | None, execution_id: str,
              runner: str) -> TakeOver:
    """Before running execution_id (again): say that it had ended (its process died after
    recording the final state), or record that it starts again (RESTARTED, unless its last
    event says so already) and where its next attempt's events go."""
    last, top = _last(store, execution_id)
    if last is None and not top:
        return TakeOver(None, 0)  # its first attempt
    if last is not None and _terminal(last.state):
        return TakeOver(last.state, last.seq)
    if last is not None and last.state == State.RESTARTED:
        return TakeOver(None, last.seq)
    return TakeOver(None, _record_restart(store, commit, flow, trigger, execution_id, runner,
                                          top + 1))


def restart(store: Store, commit: str, flow: str, trigger: str | None, execution_id: str,
            runner: str) -> int:
    """Record that execution_id starts again (above every event it has, even a final one: a
    run handed back by a stopping worker was killed only to run elsewhere); its seq."""
    _, top = _last(store, execution_id)
    return _record_restart(store, commit, flow, trigger, execution_id, runner, top + 1)


def _record_restart(store: Store, commit: str, flow: str, trigger: str | None,
                    execution_id: str, runner: str, seq: int) -> int:
    try:
        store.append(commit, [HistoryEvent(t=iso(dt.datetime.now(dt.UTC)), run=execution_id,
                                           seq=seq, flow=flow, state=str(State.RESTARTED),
                                           trigger=trigger, runner=runner)])
    except GitflowsError as err:
        log.error("cannot record the restart of %s: %s", execution_id, err)
    return seq


def _last(store: Store, execution_id: str) -> tuple[HistoryEvent | None, int]:
    """The execution's last event and the seq to write above (UNREAD_SEQ when its events
    cannot be read)."""
    try:
        events = store.run(execution_id)
    except GitflowsError as err:
        log.error("cannot read the history of %s: %s", execution_id, err)
        return None, UNREAD_SEQ
    last = max(events, key=lambda event: event.seq) if events else None
    return last, last.seq if last else 0


def _terminal(state: str) -> bool:
    try:
        return State(state).terminal
    except ValueError:
        return False
