"""Saving flows from the web UI as git commits, and re-running executions (flask-free routes).

- PUT /api/v1/flows/{ns}/{id}/source saves a flow: the text is validated like `flows
  validate` (422 with the diagnostics on errors), then committed as given, byte for byte, on
  the branch (or a new branch made at base) with compare-and-swap against the commit the
  editor loaded (runner/git/commit_file.py). A save cannot rename a flow: the YAML's
  namespace and id must be the URL's (create the new one, then delete the old one).
- POST /api/v1/flows creates `.flows/<id>.yml`; DELETE /api/v1/flows/{ns}/{id} commits its
  removal (`git revert` of that commit brings it back).
- A mirrored remote repository gets the commit pushed to its origin, fast-forward only.
- POST /api/v1/executions/{id}/rerun runs the flow again at the same commit with the same
  inputs; ?fromTask=T reuses the outputs of the tasks before T that succeeded. Executions
  known only from the notes history are re-run from their run.json (webhooks/runs/reruns.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from runner.errors import GitflowsError, UsageError
from runner.git import mirror
from runner.git.commit_file import (
    Change,
    ConflictError,
    Identity,
    LocalBranches,
    Publisher,
    PushToOrigin,
    branch_head,
    commit_change,
    resolve_commit,
)
from runner.git.save_journal import recover
from runner.language.parse import parse_flow
from webhooks import ui
from webhooks.ingress.httpapi import BadRequestError, Call, Reply, Route, error, has_control
from webhooks.runs import reruns
from webhooks.runs.service import FLOWS_DIR, FlowAtCommit, FlowService, NotFoundError

log = logging.getLogger("gitflows.editing")
DEFAULT_AUTHOR = "gitflows UI <ui@gitflows.invalid>"
_FILE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
# what git's check-ref-format refuses in a ref, and what `git branch` refuses on top of it
_REF_FORBIDDEN = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")
MAX_BRANCH = 255  # bytes: one file name under .git/refs/heads on most file systems


def routes(service: FlowService) -> list[Route]:
    editor = Editor(service)
    return [Route("PUT", "/api/v1/flows/<namespace>/<flow_id>/source", "save_flow", editor.save),
            Route("POST", "/api/v1/flows", "create_flow", editor.create),
            Route("DELETE", "/api/v1/flows/<namespace>/<flow_id>", "delete_flow", editor.delete),
            Route("POST", "/api/v1/executions/<execution_id>/rerun", "rerun", editor.rerun),
            Route("GET", "/api/v1/flows/source", "flow_file_source", editor.file_source)]


def source_answer(service: FlowService, target: FlowAtCommit, text: str) -> dict[str, Any]:
    """GET …/source: a flow's text at a commit, what the page shows beside it (inputs, task
    outline; None for a file that does not parse) and its diagnostics. The namespace and id
    of a file that does not parse are read from its YAML when it names them."""
    namespace, flow_id = (target.flow.namespace, target.flow.id) if target.flow else \
        ui.identity(text, target.file)
    return {"repo": target.repo, "commit": target.commit, "ref": target.ref, "file": target.file,
            "source": text, "namespace": namespace, "id": flow_id,
            "flow": ui.flow_detail(target.flow) if target.flow else None,
            **branch_info(service, target),
            "diagnostics": [d.as_dict() for d in target.diagnostics]}


def branch_info(service: FlowService, target: FlowAtCommit) -> dict[str, Any]:
    """For the source answer: the branch the ref names (None for a tag or commit), and the
    repository's local branches."""
    heads = sorted(ref.removeprefix("refs/heads/")
                   for ref in service.repos[target.repo].refs("refs/heads"))
    ref = (target.ref or "").removeprefix("refs/heads/")
    return {"branch": ref if ref in heads else None, "branches": heads}


def _object(body: Any) -> dict[str, Any]:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise UsageError("the body must be a JSON object")
    return body


def _text(body: Mapping[str, Any], key: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise UsageError(f"'{key}' is required")
        return None
    if not isinstance(value, str):
        raise UsageError(f"'{key}' must be a string")
    return value


def branch_name(value: str) -> str:
    """A name a save may commit on: a branch under refs/heads, as git's check-ref-format and
    `git branch` accept it, minus names that would read as another ref (`@`, HEAD, refs/…)
    or an option; BadRequestError (400) otherwise. Checked here, before git sees it."""
    parts = value.split("/")
    if (not value or value in ("@", "HEAD") or value.startswith(("-", "refs/", "/"))
            or value.endswith((".", "/")) or _REF_FORBIDDEN.search(value) or has_control(value)
            or len(value.encode("utf-8", "surrogatepass")) > MAX_BRANCH
            or any(not p or p.startswith(".") or p.endswith(".lock") for p in parts)):
        raise BadRequestError(f"{value[:80]!r} is not a branch name a save can use (see git "
                              "check-ref-format; no refs/… names, @, HEAD or leading -)")
    return value


def _branch(body: Mapping[str, Any], key: str, required: bool = True) -> str | None:
    value = _text(body, key, required)
    return None if value is None else branch_name(value)


class Editor:
    def __init__(self, service: FlowService) -> None:
        self.service = service
        for name, repo in service.repos.items():  # a save a kill -9 cut off (commit_file.py)
            if name not in service.repos.mirrors:
                try:
                    done = recover(repo.path)
                except GitflowsError as err:
                    log.error("%s: cannot recover a save cut off: %s", name, err)
                else:
                    if done:
                        log.warning("%s: %s", name, done)

    # -- helpers ------------------------------------------------------------------------
    def _repo(self, name: str | None, commit: str | None = None) -> str:
        """The served repository meant: named, the only one, or the one holding commit."""
        repos = self.service.repos
        if name is not None:
            if name not in repos:
                raise NotFoundError(f"no served repository {name}")
            return name
        if len(repos) == 1:
            return next(iter(repos))
        holding = [n for n, git in repos.items() if commit and _has(git.path, commit)]
        if len(holding) == 1:
            return holding[0]
        raise UsageError(f"several repositories are served ({', '.join(sorted(repos))}); "
                         "add \"repo\"")

    def _publisher(self, name: str) -> Publisher:
        path = self.service.repos[name].path
        if name not in self.service.repos.mirrors:
            return LocalBranches(path)
        location, token = self.service.repos.settings(name).location, self.service.repos.token(name)
        return PushToOrigin(path,
                            lambda commit, ref: mirror.push(path, location, commit, ref, token),
                            lambda: self.service.repos.refresh(name))

    def _identities(self, body: Mapping[str, Any]) -> tuple[Identity, Identity]:
        """(author, committer): the server commits on behalf of the author the editor names."""
        committer = Identity.parse(self.service.config.ui_author or DEFAULT_AUTHOR)
        given = body.get("author")
        if given is None:
            return committer, committer
        if not isinstance(given, dict):
            raise UsageError("'author' must be an object {name, email}")
        return Identity.of(given.get("name"), given.get("email")), committer

    def _change(self, body: Mapping[str, Any], path: str, content: str | None,
                default_message: str) -> Change:
        author, committer = self._identities(body)
        message = _text(body, "message", required=False) or default_message
        return Change(path, content, message, author, committer)

    def _commit(self, name: str, body: Mapping[str, Any], base: str, change: Change,
                create: bool = False) -> Reply:
        branch = _branch(body, "branch")
        assert branch is not None
        new_branch = _branch(body, "new_branch", required=False)
        try:
            done = commit_change(self.service.repos[name].path, branch, base, change,
                                 new_branch=new_branch, create=create,
                                 publisher=self._publisher(name))
        except ConflictError as err:
            return error(409, err.message, reason=err.reason, head=err.head, source=err.source)
        return Reply(200, {"repo": name, "branch": done.branch, "commit": done.commit,
                           "file": change.path, "parent": done.parent, "rebased": done.rebased,
                           "changed": done.changed})

    def _file_at(self, name: str, file: str, ref: str | None) -> FlowAtCommit:
        """The flow file `file` of repository `name` at ref, parsed or not."""
        for item in self.service.catalog.flows(name, ref):
            if item.file == file:
                return item
        raise NotFoundError(f"no flow file {file[:200]} in {name}" + (f" at {ref}" if ref else ""))

    def _target(self, name: str, namespace: str, flow_id: str, base: str,
                file: str | None) -> FlowAtCommit:
        """The flow a save replaces: by namespace and id, or (a file that did not parse at
        base, so it had none) by its file."""
        commit = resolve_commit(self.service.repos[name].path, base)
        try:
            return self.service.catalog.find(namespace, flow_id, name, commit)[0]
        except NotFoundError:
            if file is None:
                raise
            target = self._file_at(name, file, commit)
            if target.flow is not None:  # it parses: it is another flow, named otherwise
                raise
            return target

    def _fresh(self, name: str) -> None:
        """A mirror is fetched first, so the branch head compared with base is the origin's."""
        self.service.repos.refresh(name)

    # -- routes -------------------------------------------------------------------------
    def save(self, call: Call) -> Reply:
        body = _object(call.body)
        namespace, flow_id = call.params["namespace"], call.params["flow_id"]
        text, base = _text(body, "source"), _text(body, "base")
        assert text is not None and base is not None
        _branch(body, "branch")  # 400 before any git command sees it
        _branch(body, "new_branch", required=False)
        name = self._repo(_text(body, "repo", required=False) or call.args.get("repo"), base)
        self._fresh(name)
        target = self._target(name, namespace, flow_id, base, _text(body, "file", required=False))
        invalid = _invalid(text, target.file)
        if invalid is not None:
            return invalid
        flow, _ = parse_flow(text, target.file)
        if flow is not None and (flow.namespace, flow.id) != (namespace, flow_id):
            raise UsageError(f"the YAML defines {flow.namespace}.{flow.id}, not {namespace}."
                             f"{flow_id}: a save cannot rename a flow; create the new one "
                             "(POST /api/v1/flows) and delete the old one")
        change = self._change(body, target.file, text, f"Update flow {namespace}.{flow_id}")
        return self._commit(name, body, base, change)

    def create(self, call: Call) -> Reply:
        body = _object(call.body)
        text = _text(body, "source")
        branch = _branch(body, "branch")
        assert text is not None and branch is not None
        name = self._repo(_text(body, "repo", required=False) or call.args.get("repo"),
                          _text(body, "base", required=False))
        self._fresh(name)
        path = self.service.repos[name].path
        head = branch_head(path, branch)
        base = _text(body, "base", required=False) or head
        if base is None:
            raise UsageError(f"no branch {branch} in {name}")
        flow, _ = parse_flow(text, f"{FLOWS_DIR}/new.yml")
        file = f"{FLOWS_DIR}/{flow.id}.yml" if flow is not None else f"{FLOWS_DIR}/new.yml"
        invalid = _invalid(text, file)
        if invalid is not None or flow is None:
            return invalid or error(422, f"{file}: not a flow")
        if not _FILE_ID.fullmatch(flow.id) or flow.id.endswith("."):
            raise UsageError(f"flow id '{flow.id}' cannot name a file {FLOWS_DIR}/<id>.yml")
        if head is not None:
            for other in self.service.catalog.flows(name, head):
                if other.flow and (other.flow.namespace, other.flow.id) == (flow.namespace, flow.id):
                    return error(409, f"flow {flow.namespace}.{flow.id} exists already in "
                                      f"{other.file} on {branch}", reason="exists", head=head,
                                 source=None, file=other.file)
        change = self._change(body, file, text, f"Create flow {flow.namespace}.{flow.id}")
        return self._commit(name, body, base, change, create=True)

    def delete(self, call: Call) -> Reply:
        body = {**call.args, **_object(call.body)}
        namespace, flow_id = call.params["namespace"], call.params["flow_id"]
        base = _text(body, "base")  # required: a deletion is compare-and-swap like a save
        assert base is not None
        _branch(body, "branch")  # 400 before any git command sees it
        _branch(body, "new_branch", required=False)
        name = self._repo(_text(body, "repo", required=False), base)
        self._fresh(name)
        target = self._target(name, namespace, flow_id, base, _text(body, "file", required=False))
        what = f"flow {namespace}.{flow_id}" if target.flow else target.file
        change = self._change(body, target.file, None, f"Delete {what}")
        return self._commit(name, body, base, change)

    def file_source(self, call: Call) -> Reply:
        """GET /api/v1/flows/source?file=.flows/x.yml[&repo=…&ref=…]: a flow file by its path,
        whether it parses or not (the UI opens, fixes and saves a broken flow this way)."""
        file = _text(call.args, "file")
        assert file is not None
        name = self._repo(call.args.get("repo"))
        target = self._file_at(name, file, call.args.get("ref") or None)
        text = self.service.catalog.text(target)
        return Reply(200, source_answer(self.service, target, text))

    def rerun(self, call: Call) -> Reply:
        from_task = call.args.get("fromTask") or _text(_object(call.body), "fromTask",
                                                       required=False)
        return reruns.rerun(self.service, call.params["execution_id"], from_task)


def _invalid(text: str, file: str) -> Reply | None:
    """422 with `flows validate`'s diagnostics when the text has errors (warnings pass)."""
    found = ui.validate_text(text, file)
    errors = [d for d in found if d["severity"] == "error"]
    if not errors:
        return None
    first = errors[0]
    return error(422, f"{len(errors)} error(s): {first['file']}:{first['line']}:{first['column']}: "
                      f"{first['message']}", diagnostics=found)


def _has(path: Any, commit: str) -> bool:
    try:
        resolve_commit(path, commit)
    except UsageError:
        return False
    return True
