"""webhooks.ui.identity: the namespace and id a flow file that does not parse names, read for
the editor to open and save it. Any text: no exception, only strings or None."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from webhooks.ui import identity


def test_a_flow_with_a_schema_error_still_names_itself() -> None:
    text = "id: broken\nnamespace: demo\ntasks:\n  - id: a\n    type: x.Y\n    mesage: hi\n"
    assert identity(text, ".flows/broken.yml") == ("demo", "broken")


def test_what_is_not_a_name_is_none() -> None:
    assert identity("id: [1, 2]\nnamespace: 7\n", "f.yml") == (None, None)
    assert identity("- a list\n", "f.yml") == (None, None)
    assert identity("id: a\n  bad: indent\n", "f.yml") == (None, None)
    assert identity("", "f.yml") == (None, None)


@given(st.text(max_size=300))
def test_any_text_gives_strings_or_none(text: str) -> None:
    namespace, flow_id = identity(text, "f.yml")
    assert namespace is None or isinstance(namespace, str)
    assert flow_id is None or isinstance(flow_id, str)


@given(st.from_regex(r"[a-z][a-z0-9]{0,8}(\.[a-z][a-z0-9]{0,8}){0,2}", fullmatch=True),
       st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True))
def test_the_names_given_are_the_names_read(namespace: str, flow_id: str) -> None:
    text = f"id: '{flow_id}'\nnamespace: '{namespace}'\ntasks: not a list\n"
    assert identity(text, "f.yml") == (namespace, flow_id)
