"""Find the commit where a flow started failing, using recorded history first.

Given a branch's commits (oldest → newest), the recorded final states per
(commit, flow) and a way to run the flow at a commit, `first_failure` takes the
newest failing commit (or `bad`), the nearest recorded success before it and
the oldest recorded failure after that success; only the commits between those
two, which have no history, are run, in a binary search. States other than
success (SUCCESS, WARNING) and failure (FAILED) count as "skip", as in
`git bisect skip`: when skipped commits sit next to the answer, all of them are
returned as candidates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from runner.events import State
from runner.history.records import RunFilter
from runner.history.store import Store

GOOD = frozenset({"SUCCESS", "WARNING"})
BAD = frozenset({"FAILED"})


@dataclass(frozen=True)
class BisectResult:
    first_bad: str | None  # None: the newest commit (or `bad`) is not failing
    last_good: str | None  # None: no success before it in the list
    ran: tuple[str, ...]  # commits run_at was called for, in order
    candidates: tuple[str, ...]  # the first failing commit is one of these (1 unless skips)


def _kind(state: str) -> str:
    state = state.upper()
    return "good" if state in GOOD else "bad" if state in BAD else "skip"


def first_failure(commits: Sequence[str], flow: str, recorded: Mapping[tuple[str, str], str],
                  run_at: Callable[[str], str], *, bad: str | None = None) -> BisectResult:
    position = {commit: i for i, commit in enumerate(commits)}
    known: dict[int, str] = {position[c]: _kind(s) for (c, f), s in recorded.items()
                             if f == flow and c in position}
    ran: list[str] = []

    def state_at(i: int) -> str:
        if i not in known:
            ran.append(commits[i])
            known[i] = _kind(str(run_at(commits[i])))
        return known[i]

    if not commits:
        return BisectResult(None, None, (), ())
    if bad is not None and bad not in position:
        raise ValueError(f"{bad} is not in the list of commits")
    hi = position[bad] if bad is not None else len(commits) - 1
    if state_at(hi) != "bad":
        return BisectResult(None, None, tuple(ran), ())
    lo = max((i for i in range(hi) if known.get(i) == "good"), default=-1)
    hi = min(i for i in range(lo + 1, hi + 1) if known.get(i) == "bad")
    while True:
        between = [i for i in range(lo + 1, hi) if known.get(i) != "skip"]
        if not between:
            break
        mid = between[len(between) // 2]
        kind = state_at(mid)
        if kind == "good":
            lo = mid
        elif kind == "bad":
            hi = mid
    return BisectResult(first_bad=commits[hi], last_good=commits[lo] if lo >= 0 else None,
                        ran=tuple(ran), candidates=tuple(commits[lo + 1:hi + 1]))


def recorded_states(store: Store, flow: str, ref: str | None = None) -> dict[tuple[str, str], str]:
    """(commit, flow) → final state of the newest finished run of flow at that commit."""
    states: dict[tuple[str, str], str] = {}
    for summary in store.runs(RunFilter(flow=flow, ref=ref, limit=None)):
        try:
            finished = State(summary.state).terminal
        except ValueError:
            finished = False
        if finished:
            states.setdefault((summary.commit, summary.flow), summary.state)
    return states
