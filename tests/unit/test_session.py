"""RunSession: the one place a run is built — trust, secrets, masking, data and concurrency
decided there for every face. Runs go through the real parser, engine and host processes."""

from __future__ import annotations

import base64
import threading
from pathlib import Path

from runner.events import Collect, LogLine, State
from runner.executors import Executors, LocalExecutor
from runner.secrets import MASK
from runner.session import RunRequest, RunSession, user_data_dir
from tests.unit.engine_helpers import flow_of
from tests.waiting import wait_until

SECRET_FLOW = """
id: s
namespace: t
tasks:
  - id: show
    type: io.kestra.plugin.core.log.Log
    message: "{{ secret('TOKEN') }}"
"""


def _session(tmp_path: Path, events: Collect, **kwargs: object) -> RunSession:
    environ = {"SECRET_TOKEN": base64.b64encode(b"s3cret-value").decode(),
               "ENV_REGION": "eu-north", "GITHUB_TOKEN": "ghs_face_token_123"}
    return RunSession(Executors(LocalExecutor()), tmp_path / "data", environ=environ,
                      sinks=[events], **kwargs)  # type: ignore[arg-type]


def _logs(events: Collect) -> list[str]:
    return [e.message for e in events.events if isinstance(e, LogLine)]


def test_a_trusted_run_reads_secrets_and_they_never_leave_unmasked(tmp_path: Path) -> None:
    events = Collect()
    execution = _session(tmp_path, events).run(RunRequest(flow_of(SECRET_FLOW), tmp_path))
    assert execution.state.current is State.SUCCESS
    assert MASK in _logs(events) and not any("s3cret-value" in line for line in _logs(events))


def test_an_untrusted_request_gets_no_secrets_no_env_and_untrusted_executors(
        tmp_path: Path) -> None:
    events = Collect()
    session = _session(tmp_path, events)
    request = RunRequest(flow_of(SECRET_FLOW), tmp_path, untrusted=True)
    engine = session.engine(request)
    assert engine.executors.untrusted and not session.executors.untrusted
    assert engine.secrets.get("TOKEN") is None
    assert not any(k.startswith(("ENV_", "SECRET_")) for k in engine.environ)
    execution = session.run(request)
    assert execution.state.current is State.FAILED
    # without a container engine nothing runs, and the run says why
    assert any("only in containers" in line for line in _logs(events)), _logs(events)


def test_the_face_s_sensitive_values_are_masked_in_every_run(tmp_path: Path) -> None:
    events = Collect()
    flow = flow_of("""
        id: echo
        namespace: t
        tasks:
          - id: say
            type: io.kestra.plugin.scripts.shell.Commands
            taskRunner: {type: io.kestra.plugin.core.runner.Process}
            commands: ["echo the token is ghs_face_token_123"]
        """)
    session = _session(tmp_path, events, masks=frozenset({"ghs_face_token_123"}))
    execution = session.run(RunRequest(flow, tmp_path))
    assert execution.state.current is State.SUCCESS
    assert any(f"the token is {MASK}" in line for line in _logs(events))
    assert not any("ghs_face_token_123" in line for line in _logs(events))


def test_a_flow_concurrency_limit_holds_across_the_runs_of_one_session(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    flow = flow_of(f"""
        id: one-at-a-time
        namespace: t
        concurrency: {{limit: 1, behavior: QUEUE}}
        tasks:
          - id: hold
            type: io.kestra.plugin.scripts.shell.Commands
            taskRunner: {{type: io.kestra.plugin.core.runner.Process}}
            commands: ["while [ ! -e {gate} ]; do sleep 0.02; done"]
        """)
    events = Collect()
    session = _session(tmp_path, events)
    first, second = (session.prepare(RunRequest(flow, tmp_path)) for _ in range(2))
    threads = [threading.Thread(target=p.execute) for p in (first, second)]
    threads[0].start()
    wait_until(lambda: first.execution.state.current is State.RUNNING, "the first runs")
    threads[1].start()
    wait_until(lambda: second.execution.state.current is State.QUEUED, "the second queues")
    gate.touch()
    for thread in threads:
        thread.join(120)
    assert first.execution.state.current is second.execution.state.current is State.SUCCESS


def test_runs_outside_a_server_share_one_data_dir(tmp_path: Path) -> None:
    assert user_data_dir({"GITFLOWS_DATA": "/srv/d", "XDG_DATA_HOME": "/x"}) == Path("/srv/d")
    assert user_data_dir({"XDG_DATA_HOME": "/x"}) == Path("/x/gitflows")
    assert user_data_dir({}) == Path.home() / ".local" / "share" / "gitflows"
