"""Read-only HTTP routes over the artifacts runs published (gitflows.artifacts.Upload), kept
per served repository under the data directory (runner.tasks.artifact_store):
`GET /api/v1/artifacts?repo=&name=&branch=&limit=` lists them, newest first, and
`GET /api/v1/artifacts/file?repo=&id=&path=` answers one file's bytes."""

from __future__ import annotations

from runner.tasks.artifact_store import ArtifactError, ArtifactStore
from webhooks.ingress.httpapi import Call, Reply, Route, error, integer
from webhooks.runs.service import FlowService

MAX_FILE_ANSWER = 256 * 1024 * 1024  # larger files: `flows artifacts get` on the server


def routes(service: FlowService) -> list[Route]:
    api = ArtifactsApi(service)
    return [Route("GET", "/api/v1/artifacts", "artifacts", api.listing),
            Route("GET", "/api/v1/artifacts/file", "artifact_file", api.file)]


class ArtifactsApi:
    def __init__(self, service: FlowService) -> None:
        self.service = service

    def _store(self, repo: str) -> ArtifactStore:
        return ArtifactStore.for_repo(self.service.config.data_dir, repo)

    def listing(self, call: Call) -> Reply:
        repo = call.args.get("repo")
        if repo is not None and repo not in self.service.repos:
            return error(404, f"no repository {repo} is served here")
        limit = integer(call.args, "limit", 100, high=1000)
        rows = []
        try:
            for name in [repo] if repo else list(self.service.repos):
                found = self._store(name).list(call.args.get("name"), call.args.get("branch"),
                                               limit)
                rows += [{"repo": name, **a.to_json()} for a in found]
        except ArtifactError as err:
            return error(400, str(err))
        rows.sort(key=lambda row: str(row["created"]), reverse=True)
        return Reply(200, rows[:limit])

    def file(self, call: Call) -> Reply:
        repo, path = call.args.get("repo", ""), call.args.get("path", "")
        if repo not in self.service.repos:
            return error(404, f"no repository {repo} is served here")
        artifact_id = integer(call.args, "id", 0)
        store = self._store(repo)
        artifact = store.get(artifact_id)
        stored = next((f for f in artifact.files if f.path == path), None) if artifact else None
        if artifact is None or stored is None:
            return error(404, f"no file {path} in artifact {artifact_id} of {repo}")
        if stored.size > MAX_FILE_ANSWER:
            return error(413, f"{path} is larger than {MAX_FILE_ANSWER} bytes")
        try:
            data = store.blob(stored).read_bytes()
        except ArtifactError as err:
            return error(404, str(err))
        filename = path.rsplit("/", 1)[-1].replace('"', "")
        return Reply(200, data, {"Content-Disposition": f'attachment; filename="{filename}"',
                                 "X-Content-Type-Options": "nosniff"},
                     content_type="application/octet-stream")
