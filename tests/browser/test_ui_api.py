"""The UI's JSON and Server-Sent Events API, over plain HTTP (no browser)."""

from __future__ import annotations

import json
import urllib.request

from tests.browser.conftest import GREET, get_json
from tests.waiting import CEILING, Gate


def test_static_bundle_is_served_with_its_content_types(served: str) -> None:
    for path, kind in [("/", "text/html"), ("/ui/static/app.js", "text/javascript"),
                       ("/ui/static/app.css", "text/css")]:
        with urllib.request.urlopen(served + path, timeout=10) as response:
            assert response.headers["Content-Type"].startswith(kind), path
            assert response.read()


def test_source_and_validate(served: str) -> None:
    source = get_json(served + "/api/v1/flows/demo/greet/source")
    assert source["source"] == GREET and source["file"] == ".flows/greet.yml"
    assert len(source["commit"]) == 40
    assert [i["id"] for i in source["flow"]["inputs"]] == ["who", "times", "loud", "color", "note"]
    assert source["flow"]["inputs"][3]["values"] == ["red", "green"]
    assert [t["id"] for t in source["flow"]["tasks"]] == ["hello", "lines"]
    request = urllib.request.Request(served + "/api/v1/flows/validate",
                                     data=GREET.replace("message:", "mesage:").encode(), method="POST",
                                     headers={"X-Gitflows-Request": "1"})
    with urllib.request.urlopen(request, timeout=10) as response:
        found = json.loads(response.read())
    line = GREET.splitlines().index('    message: "hello {{ inputs.who }} x{{ inputs.times }} '
                                    '{{ inputs.color }}"') + 1
    assert any(d["code"] == "unknown-property" and d["line"] == line for d in found), found
    assert set(found[0]) >= {"line", "column", "severity", "code", "message"}


def test_follow_streams_log_lines_before_the_run_ends(served: str, gate: Gate) -> None:
    gate.close()  # `lines` holds after `line 1` until the stream has shown it
    execution = get_json(served + "/api/v1/executions/demo/greet", "POST", {"who": "sse"})
    events: list[tuple[str, dict[str, object], bool]] = []
    url = f"{served}/api/v1/executions/{execution['id']}/follow"
    with urllib.request.urlopen(url, timeout=CEILING) as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        name, data = "", ""
        for raw in response:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif not line and name:
                state = get_json(f"{served}/api/v1/executions/{execution['id']}")["state"]["current"]
                events.append((name, json.loads(data), state in ("SUCCESS", "FAILED", "KILLED")))
                if events[-1][1].get("message") == "line 1":
                    gate.open()
                name = ""
    messages = [str(e[1].get("message")) for e in events if e[0] == "log"]
    assert "line 1" in messages and "line 3" in messages, messages
    first = next(e for e in events if e[1].get("message") == "line 1")
    assert not first[2], "line 1 arrived only after the run had ended"
    assert events[-1][0] == "end" and events[-1][1]["current"] == "SUCCESS"
    # a reconnect with Last-Event-ID resumes after the lines already seen, and the stream of an
    # ended run closes after its end event (a stream left open fails here on the read timeout)
    request = urllib.request.Request(url, headers={"Last-Event-ID": str(len(messages) - 1)})
    with urllib.request.urlopen(request, timeout=CEILING) as response:
        body = response.read().decode()
    assert "event: log" not in body and "event: end" in body
