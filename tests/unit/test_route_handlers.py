"""The flask-free route handlers (webhooks/ingress/httpapi.py) called directly, the way a test
or another binder would: a Call in, a Reply out, without an app."""

from __future__ import annotations

import pytest

from runner.errors import UsageError
from webhooks import ui
from webhooks.ingress.httpapi import Bytes, Call
from webhooks.runs import api as runs_api
from webhooks.ui import api as ui_api


def call(params: dict[str, str] | None = None, args: dict[str, str] | None = None,
         body: Bytes | None = None) -> Call:
    return Call(params or {}, args or {}, {}, body or Bytes())


def test_inputs_are_a_json_object_or_form_fields() -> None:
    assert runs_api.inputs(call(body=Bytes(b'{"who": "ada"}', is_json=True))) == {"who": "ada"}
    with pytest.raises(UsageError, match="object of input values"):
        runs_api.inputs(call(body=Bytes(b'["ada"]', is_json=True)))
    assert runs_api.inputs(call(body=Bytes(b'{"who": "ada"}'))) == {}  # not JSON: its form


def test_the_json_body_is_none_when_it_is_not_json() -> None:
    assert call(body=Bytes(b'{"a": [1]}')).body == {"a": [1]}
    assert call(body=Bytes(b"{nope")).body is None
    assert call().body is None


def test_an_sse_event_carries_its_id_and_json_data() -> None:
    assert runs_api.sse("log", {"line": "hi"}, 7) == 'id: 7\nevent: log\ndata: {"line": "hi"}\n\n'
    assert runs_api.sse("end", "SUCCESS") == 'event: end\ndata: "SUCCESS"\n\n'


def test_ui_files_are_sent_as_is_with_their_type_and_unknown_ones_are_json_404() -> None:
    reply = ui_api.asset(call({"name": "app.js"}))
    assert (reply.status, reply.content_type) == (200, "text/javascript; charset=utf-8")
    assert reply.body == (ui.STATIC / "app.js").read_bytes()
    assert reply.headers == {"Cache-Control": "no-cache"}
    missing = ui_api.asset(call({"name": "../app.py"}))
    assert (missing.status, missing.body, missing.content_type) == \
        (404, {"message": "no UI asset ../app.py"}, None)
    assert ui_api.index(call()).content_type == "text/html; charset=utf-8"


def test_validate_reads_the_raw_text() -> None:
    reply = ui_api.validate(call(args={"file": ".flows/x.yml"},
                                 body=Bytes(b"id: x\nnamespace: demo\ntasks: []\n")))
    assert reply.status == 200 and reply.content_type is None
    assert any(d["severity"] == "error" and d["file"] == ".flows/x.yml" for d in reply.body), reply.body
