"""The MQTT triggers' redelivery rules (runner/plugins/mqtt_events.py), as properties."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from runner.plugins.mqtt_events import Received, fresh_events

MESSAGES = st.lists(st.tuples(st.sampled_from(["a", "b"]), st.binary(max_size=3), st.booleans()),
                    max_size=30)


def _everything(_topic: str) -> bool:
    return True


@given(MESSAGES, st.integers(min_value=0, max_value=30))
def test_a_redelivered_committed_message_never_fires_again(items: list[tuple[str, bytes, bool]],
                                                            committed: int) -> None:
    sent = [Received(topic, payload, 1, retain, mid, False)
            for mid, (topic, payload, retain) in enumerate(items, 1)]
    first, cursor = fresh_events(None, sent[:committed], _everything)
    # the acks were lost: the broker sends the committed ones again (dup) before the rest
    again = [Received(m.topic, m.payload, m.qos, m.retain, m.mid, True) for m in sent[:committed]]
    second, _ = fresh_events(cursor, again + sent[committed:], _everything)
    fired = [m for _, m in first + second]
    assert [m.mid for m in fired] == [m.mid for m in sent if m in fired]  # order kept, none twice
    assert len({seq for seq, _ in first + second}) == len(fired)  # keys (seq) never repeat
    plain = [m for m in sent if not m.retain]
    assert all(m in fired for m in plain)  # nothing that is not retained is ever dropped


@given(MESSAGES)
def test_a_failed_commit_gives_the_same_keys_again(items: list[tuple[str, bytes, bool]]) -> None:
    sent = [Received(t, p, 1, r, mid, False) for mid, (t, p, r) in enumerate(items, 1)]
    cursor = {"seq": 7, "recent": [], "retained": {}}
    assert fresh_events(cursor, sent, _everything) == fresh_events(cursor, sent, _everything)
