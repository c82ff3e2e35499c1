"""The `flows` command. The only module that imports click.

Exit codes: 0 success, 1 a failed run or invalid flows (validate), 2 usage or
validation error before a run starts.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from runner.cli.choices import EXECUTORS, FORGES
from runner.errors import GitflowsError, UsageError

if TYPE_CHECKING:
    from runner.executors import Executors
    from runner.history.recorder import HistoryRecorder

# Each command imports what it needs when it runs: `flows --help` or `flows validate` must not
# pay for the engine, every task family, the forges and jsonschema (issue 21, cold start).
DEFAULT_FLOWS_DIR = ".flows"


class _Group(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except GitflowsError as err:
            click.echo(f"error: {err.message}", err=True)
            sys.exit(err.exit_code)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gitflows", prog_name="flows")
def main() -> None:
    """gitflows: run the Kestra-style YAML flows kept in .flows/ of a Git repository."""


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json prints a list of {file,line,column,severity,code,message}.")
def validate(paths: tuple[str, ...], fmt: str) -> None:
    """Validate flow files (default: every *.yml/*.yaml under .flows/)."""
    targets = paths or (DEFAULT_FLOWS_DIR,)
    for target in targets:
        if not Path(target).exists():
            raise UsageError(f"{target}: no such file or directory")
    from runner.diagnostics import has_errors
    from runner.language.validate import validate_paths

    count, diagnostics = validate_paths(targets)
    if fmt == "json":
        click.echo(json.dumps([d.as_dict() for d in diagnostics], indent=2))
    else:
        for diagnostic in diagnostics:
            click.echo(diagnostic.format())
        errors = sum(d.is_error for d in diagnostics)
        summary = f"{count} flow file(s) checked, {errors} error(s), " \
                  f"{len(diagnostics) - errors} warning(s)"
        click.echo(summary, err=True)
    sys.exit(1 if has_errors(diagnostics) or count == 0 else 0)


def _parse_inputs(pairs: tuple[str, ...], files: tuple[str, ...]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for file in files:
        try:
            loaded = json.loads(Path(file).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise UsageError(f"--inputs {file}: {err}") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"--inputs {file}: expected a JSON object")
        values.update(loaded)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--input expects KEY=VALUE, got '{pair}'")
        values[key] = value
    return values


def _recorder(root: Path) -> HistoryRecorder:
    import socket

    from runner.git.repo import GitRepo
    from runner.history.notes import NotesStore, default_index_path
    from runner.history.recorder import HistoryRecorder

    git = GitRepo(root)
    try:
        commit = git.resolve("HEAD")
    except GitflowsError:
        raise UsageError(f"--record needs a git repository with a commit ({root})") from None
    store = NotesStore(root, index=default_index_path(root))
    return HistoryRecorder(store, commit, git.current_branch(), "manual",
                           f"flows run@{socket.gethostname()}",
                           dirty=git.is_dirty(untracked=False))  # a new scratch file is not a change


def _executors(choice: str, pass_env: tuple[str, ...] = ()) -> Executors:
    from runner.executors.base import passed_environment
    from runner.executors.lazy import executors_for_run as executors_for

    return executors_for(choice, lambda message: click.echo(message, err=True),
                         passed_environment(os.environ, pass_env))


_PASS_ENV = click.option("--pass-env", "pass_env", multiple=True, metavar="NAME",
                         help="Pass this variable of your environment to the steps (they see only "
                              "the flow's env otherwise); repeat for several.")


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE",
              help="A flow input; repeat for several.")
@click.option("--inputs", "input_files", multiple=True, type=click.Path(dir_okay=False),
              metavar="FILE.json", help="Inputs from a JSON object file.")
@click.option("--executor", type=EXECUTORS, default="auto",
              show_default=True, help="Where script steps run; auto uses Docker when it answers.")
@click.option("--json", "as_json", is_flag=True, help="Print the final execution as JSON on stdout.")
@click.option("--log-level", type=click.Choice(["TRACE", "DEBUG", "INFO", "WARN", "ERROR"]),
              default="INFO", show_default=True)
@click.option("--record", is_flag=True,
              help="Also record the run in the repository's history (git notes, under HEAD).")
@click.option("--secrets", "secrets_file", type=click.Path(dir_okay=False, exists=True),
              help="A JSON object of secret name → value, for secret('NAME').")
@_PASS_ENV
def run(file: str, inputs: tuple[str, ...], input_files: tuple[str, ...], executor: str,
        as_json: bool, log_level: str, record: bool, secrets_file: str | None,
        pass_env: tuple[str, ...] = ()) -> None:
    """Run the flow in FILE; exit 0 on SUCCESS/WARNING, 1 on FAILED/KILLED. Progress goes to
    stderr (a live view on a terminal), the flow's outputs to stdout at the end."""
    from runner.events import State
    from runner.git.files import find_root
    from runner.language.catalog import DirectoryFlows, FlowsInOrder
    from runner.language.parse import load_flow
    from runner.reporters.console import console_for, format_outputs
    from runner.secrets import Secrets
    from runner.session import RunRequest, RunSession, user_data_dir

    if not Path(file).exists():
        raise UsageError(f"{file}: no such file")
    flow = load_flow(file)
    values = _parse_inputs(inputs, input_files)
    console = console_for(sys.stderr, log_level, os.environ)  # the engine masks secrets already
    root = find_root(Path(file))
    here = Path(file).resolve().parent
    flows = FlowsInOrder(*{here: DirectoryFlows(here), root / DEFAULT_FLOWS_DIR:
                           DirectoryFlows(root / DEFAULT_FLOWS_DIR)}.values())
    recorder = _recorder(root) if record else None
    session = RunSession(_executors(executor, pass_env), user_data_dir(), environ=os.environ,
                         secrets=Secrets(os.environ, Path(secrets_file) if secrets_file else None),
                         sinks=[console])
    with console:
        execution = session.run(RunRequest(flow, root, flows, values,
                                           sinks=(recorder,) if recorder is not None else ()))
    if recorder is not None:
        for problem in recorder.errors:
            click.echo(f"warning: history not recorded: {problem}", err=True)
        if not recorder.errors:
            click.echo(f"recorded run {execution.id} in {root} (refs/notes/flows)", err=True)
    if as_json:
        click.echo(json.dumps(execution.to_json(), indent=2, default=str))
    elif console.outputs:
        click.echo(format_outputs(console.outputs))
    ok = execution.state.current in (State.SUCCESS, State.WARNING)
    sys.exit(0 if ok else 1)


@main.command()
def schema() -> None:
    """Print the flow JSON Schema (for editors: yaml-language-server, VS Code YAML)."""
    from runner.language.schema import build_schema
    from runner.tasks import default_registry

    click.echo(json.dumps(build_schema(default_registry()), indent=2))


@main.command()
@click.argument("flow_id", metavar="FLOW")
@click.option("--repo", type=click.Path(file_okay=False, exists=True))
@click.option("--ref", default="HEAD", show_default=True, help="The branch to search.")
@click.option("--executor", type=EXECUTORS, default="auto")
def bisect(flow_id: str, repo: str | None, ref: str, executor: str) -> None:
    """The first commit on a branch where FLOW (namespace.id) went from SUCCESS to FAILED,
    from recorded history first, running the flow only at commits without a record."""
    from runner.cli.history import open_store
    from runner.git.repo import GitRepo
    from runner.history.bisect import first_failure, recorded_states
    from runner.replay import check_flow, known_flows, run_and_record
    from runner.reporters.console import ConsoleReporter
    from runner.session import RunSession, user_data_dir

    root, store = open_store(repo)
    check_flow(flow_id, known_flows(root, store))
    git = GitRepo(root)
    commits = git.commits(ref)
    session = RunSession(_executors(executor), user_data_dir(), environ=os.environ,
                         sinks=[ConsoleReporter(sys.stderr, level="WARN")])

    def line(commit: str) -> str:
        return f"{commit[:10]} {git.subject(commit)}"

    def run_commit(commit: str) -> str:
        click.echo(f"running {flow_id} at {line(commit)}", err=True)
        state, problems = run_and_record(git, store, commit, flow_id, session,
                                         git.current_branch() if ref == "HEAD" else ref)
        for problem in problems:
            click.echo(f"warning: history not recorded: {problem}", err=True)
        click.echo(f"  {state}", err=True)
        return state

    result = first_failure(commits, flow_id, recorded_states(store, flow_id), run_commit)
    if result.first_bad is None:
        tip = line(commits[-1]) if commits else ref
        click.echo(f"{flow_id} does not fail at {ref} ({tip}): nothing to bisect")
        sys.exit(1)
    click.echo(f"first failing commit: {line(result.first_bad)}")
    if result.last_good:
        click.echo(f"last passing commit:  {line(result.last_good)}")
    if len(result.candidates) > 1:
        click.echo("skipped commits leave these candidates:\n" +
                   "\n".join(f"  {line(c)}" for c in result.candidates))
    click.echo(f"ran the flow at {len(result.ran)} commit(s) (now recorded in the history); "
               "the rest came from history", err=True)


@main.command()
@click.option("--event", help="push, pull_request, workflow_dispatch, manual ($GITHUB_EVENT_NAME).")
@click.option("--payload", type=click.Path(dir_okay=False), help="Event JSON ($GITHUB_EVENT_PATH).")
@click.option("--repo", type=click.Path(file_okay=False), help="The checkout ($GITHUB_WORKSPACE).")
@click.option("--flows", "flows_dir", type=click.Path(file_okay=False), help="Default: .flows/")
@click.option("--flow", "names", multiple=True, metavar="NS.ID", help="Only (manual: run) these.")
@click.option("--input", "-i", "inputs", multiple=True, metavar="KEY=VALUE")
@click.option("--executor", type=EXECUTORS, default="auto")
@click.option("--provider", type=FORGES, help="Status API.")
@click.option("--jobs", type=click.IntRange(1, 16), default=1, help="Flows run at once.")
@click.option("--summary", type=click.Path(dir_okay=False), help="($GITHUB_STEP_SUMMARY)")
@click.option("--outputs", type=click.Path(dir_okay=False), help="($GITHUB_OUTPUT)")
@click.option("--push-history/--no-push-history", default=False, help="To origin; not for forks.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@_PASS_ENV
def ci(event: str | None, payload: str | None, repo: str | None, flows_dir: str | None,
       names: tuple[str, ...], inputs: tuple[str, ...], executor: str, provider: str | None,
       jobs: int, summary: str | None, outputs: str | None, push_history: bool,
       as_json: bool, pass_env: tuple[str, ...] = ()) -> None:
    """Run the flows a CI event triggers (push, pull request), report and record them;
    exit 0 when all succeed or none ran, 1 when one fails. See README: GitHub Action."""
    from runner.ci.job import CiOptions, describe, run_ci

    def path(value: str | None) -> Path | None:
        return Path(value) if value else None

    options = CiOptions(event, path(payload), path(repo), path(flows_dir), names,
                        _parse_inputs(inputs, ()), path(summary), path(outputs), push_history,
                        provider, jobs)
    result = run_ci(options, os.environ, lambda: _executors(executor, pass_env), sys.stderr)
    if as_json:
        click.echo(describe(result))
    sys.exit(result.exit_code)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print {types, problems} as JSON.")
def plugins(as_json: bool) -> None:
    """List every task and trigger type with its provider (built-in or a plugin), and plugin
    problems. Plugins register types through the `gitflows.plugins` entry-point group."""
    from runner.tasks import default_registry
    from runner.tasks.plugins import describe, installed

    found = installed()
    types = describe(default_registry(), found)
    problems = [{"plugin": p.plugin, "provider": p.provider, "message": p.message}
                for p in found.problems]
    if as_json:
        click.echo(json.dumps({"types": types, "problems": problems,
                               "not_installed": list(found.not_installed)}, indent=2))
        return
    width = max((len(t["name"]) for t in types), default=0)
    for t in types:
        click.echo(f"{t['name']:<{width}}  {t['kind']:<7}  {t['provider']:<16}  {t['title']}")
    for extra in found.not_installed:
        click.echo(f"not installed: the {extra} plugin (pip install 'gitflows[{extra}]')")
    for problem in found.problems:
        click.echo(f"problem: {problem.format()}", err=True)


def _add_server_commands() -> None:
    from runner.cli.artifacts import artifacts
    from runner.cli.coverage import kestra_coverage
    from runner.cli.history import history, logs, show
    from runner.cli.server import serve, worker, workers

    for command in (history, show, logs, serve, worker, workers, kestra_coverage, artifacts):
        main.add_command(command)


_add_server_commands()
