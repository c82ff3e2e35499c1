"""A GitHub REST API stand-in that checks every request against GitHub's published
OpenAPI description (@octokit/openapi): the operation is found by method and path
template, path parameters must be present, the JSON body must validate against the
operation's requestBody schema, the headers must be GitHub's (Accept, API version,
a known token, or a JWT signed by the app's key for /app endpoints). Answers are the
description's own examples, with the fields the request set.
"""

from __future__ import annotations

import base64
import copy
import datetime as dt
import json
import re
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import jsonschema

from tests.standins.server import Answer, StandIn

API_VERSION = "2022-11-28"
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_FORMATS = jsonschema.FormatChecker()


@_FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(_RFC3339.match(value))


def _nullable(node: Any) -> Any:
    """OpenAPI 3.0 `nullable: true` → JSON Schema's null type."""
    if isinstance(node, list):
        return [_nullable(x) for x in node]
    if not isinstance(node, dict):
        return node
    out = {k: _nullable(v) for k, v in node.items()}
    if out.get("nullable") is True:
        if isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]
        if isinstance(out.get("enum"), list):
            out["enum"] = [*out["enum"], None]
    return out


class OpenApi:
    """The operations of one description, found by method and concrete path."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc
        self.schemas = _nullable(doc["components"]["schemas"])
        routes = []
        for template, item in doc["paths"].items():
            literal = sum(1 for seg in template.split("/") if seg and "{" not in seg)
            pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(template))
            routes.append((-literal, template, re.compile(f"^{pattern}$"), item))
        self.routes = sorted(routes, key=lambda r: (r[0], r[1]))
        self.operations = {op["operationId"]: op for item in doc["paths"].values()
                           for method, op in item.items()
                           if isinstance(op, dict) and "operationId" in op}
        self._validators: dict[str, Any] = {}

    def resolve(self, node: Any) -> Any:
        while isinstance(node, dict) and "$ref" in node:
            target: Any = self.doc
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def find(self, method: str, path: str) -> tuple[str, dict[str, Any], dict[str, str]] | None:
        for _, template, pattern, item in self.routes:
            found = pattern.match(path)
            if found and method.lower() in item:
                params = {k: unquote(v) for k, v in found.groupdict().items()}
                return template, item, params
        return None

    def parameters(self, item: dict[str, Any], method: str) -> list[dict[str, Any]]:
        listed = [*item.get("parameters", []), *item[method.lower()].get("parameters", [])]
        return [self.resolve(p) for p in listed]

    def validator(self, operation: dict[str, Any]) -> Any:
        key = operation["operationId"]
        if key not in self._validators:
            body = operation.get("requestBody")
            schema = None
            if body is not None:
                content = self.resolve(body).get("content", {}).get("application/json")
                schema = content.get("schema") if content else None
            self._validators[key] = None if schema is None else jsonschema.Draft4Validator(
                {"allOf": [_nullable(schema)], "components": {"schemas": self.schemas}},
                format_checker=_FORMATS)
        return self._validators[key]

    def example(self, operation: dict[str, Any]) -> tuple[int, Any]:
        """The first 2xx answer the description gives, with its first example."""
        for status, response in sorted(operation["responses"].items()):
            if not status.startswith("2"):
                continue
            content = self.resolve(response).get("content", {}).get("application/json", {})
            for example in (content.get("examples") or {}).values():
                return int(status), copy.deepcopy(self.resolve(example).get("value"))
            return int(status), None
        return 200, None


def _b64decode(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class GitHubStandIn(StandIn):
    def __init__(self, openapi: OpenApi, *, token: str | None = None, app_id: str | None = None,
                 app_public_key: Path | None = None, installation_id: int = 4242,
                 token_ttl: dt.timedelta = dt.timedelta(hours=1),
                 clock: Callable[[], dt.datetime] | None = None) -> None:
        self.openapi = openapi
        self.tokens = {token} if token else set()
        self.app_id = app_id
        self.app_public_key = app_public_key
        self.installation_id = installation_id
        self.token_ttl = token_ttl
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.issued: dict[str, dt.datetime] = {}  # installation token → expiry
        self.check_runs: dict[int, dict[str, Any]] = {}
        self._next_id = 1000
        super().__init__()

    # -- validation ----------------------------------------------------------------
    def check(self, method: str, path: str, headers: dict[str, str],
              body: Any) -> tuple[list[str], str | None, dict[str, str]]:
        found = self.openapi.find(method, path)
        if found is None:
            return [f"no operation {method} {path} in GitHub's OpenAPI description"], None, {}
        template, item, params = found
        operation = item[method.lower()]
        errors = []
        for param in self.openapi.parameters(item, method):
            if param.get("in") == "path" and param.get("required") and not params.get(param["name"]):
                errors.append(f"path parameter {param['name']} of {template} is empty")
        validator = self.openapi.validator(operation)
        request_body = operation.get("requestBody")
        if body is None and request_body and self.openapi.resolve(request_body).get("required"):
            errors.append(f"{operation['operationId']} needs a JSON body")
        elif body is not None and validator is not None:
            errors += [f"body{''.join(f'[{p!r}]' for p in e.absolute_path)}: {e.message}"
                       for e in validator.iter_errors(body)]
        elif body is not None:
            errors.append(f"{operation['operationId']} takes no body")
        errors += self._header_errors(headers, app=template.startswith("/app/")
                                      or operation["operationId"] == "apps/get-repo-installation")
        return errors, operation["operationId"], params

    def _header_errors(self, headers: dict[str, str], app: bool) -> list[str]:
        lower = {k.lower(): v for k, v in headers.items()}
        errors = []
        if "application/vnd.github+json" not in lower.get("accept", ""):
            errors.append(f"Accept {lower.get('accept')!r} is not application/vnd.github+json")
        if lower.get("x-github-api-version") != API_VERSION:
            errors.append(f"X-GitHub-Api-Version {lower.get('x-github-api-version')!r} "
                          f"is not {API_VERSION}")
        if not lower.get("user-agent"):
            errors.append("no User-Agent (GitHub refuses requests without one)")
        scheme, _, credential = lower.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not credential:
            return [*errors, "auth: Authorization is not 'Bearer <token>'"]
        if app:
            return errors + [f"auth: {e}" for e in self.jwt_errors(credential)]
        expiry = self.issued.get(credential)
        if credential in self.tokens or (expiry is not None and expiry > self.clock()):
            return errors
        return [*errors, "auth: unknown or expired token"]

    def jwt_errors(self, jwt: str) -> list[str]:
        """RS256 signature by the app's key (checked with openssl), iss, iat and exp."""
        if self.app_public_key is None or self.app_id is None:
            return ["this stand-in has no GitHub App configured"]
        try:
            head_b64, claims_b64, signature_b64 = jwt.split(".")
            header = json.loads(_b64decode(head_b64))
            claims = json.loads(_b64decode(claims_b64))
            signature = _b64decode(signature_b64)
        except ValueError as err:
            return [f"JWT is malformed: {err}"]
        errors = []
        if header.get("alg") != "RS256":
            errors.append(f"JWT alg {header.get('alg')!r} is not RS256")
        with tempfile.NamedTemporaryFile(suffix=".sig") as sig:
            sig.write(signature)
            sig.flush()
            verified = subprocess.run(
                ["openssl", "dgst", "-sha256", "-verify", str(self.app_public_key),
                 "-signature", sig.name], input=f"{head_b64}.{claims_b64}".encode(),
                capture_output=True, check=False)
        if verified.returncode != 0:
            errors.append("JWT signature does not verify with the app's public key")
        now = self.clock().timestamp()
        iat, exp = claims.get("iat"), claims.get("exp")
        if str(claims.get("iss")) != str(self.app_id):
            errors.append(f"JWT iss {claims.get('iss')!r} is not the app id")
        if not isinstance(iat, int) or not isinstance(exp, int):
            return [*errors, "JWT iat/exp are not integers"]
        if exp - iat > 600:
            errors.append("JWT lives longer than 10 minutes")
        if iat > now + 60 or exp <= now:
            errors.append("JWT is not valid now")
        return errors

    # -- answers ---------------------------------------------------------------------
    def respond(self, method: str, operation: str, params: dict[str, str], body: Any) -> Answer:
        status, example = self.openapi.example(self.openapi.operations[operation])
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        if operation == "repos/create-commit-status":
            return Answer(status, {**example, **body, "created_at": now, "updated_at": now})
        if operation == "apps/get-repo-installation":
            return Answer(status, {**example, "id": self.installation_id})
        if operation == "apps/create-installation-access-token":
            with self.lock:
                token = f"ghs_standin{len(self.issued) + 1:026d}"
                expires = self.clock() + self.token_ttl
                self.issued[token] = expires
            return Answer(status, {**example, "token": token,
                                   "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")})
        if operation == "checks/create":
            return Answer(status, self._check_run(None, params, body, example))
        if operation == "checks/update":
            if int(params["check_run_id"]) not in self.check_runs:
                return Answer(404, {"message": "Not Found"})
            return Answer(status, self._check_run(int(params["check_run_id"]), params, body,
                                                  example))
        raise NotImplementedError(f"the stand-in does not answer {operation}")

    def _check_run(self, ident: int | None, params: dict[str, str], body: dict[str, Any],
                   example: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if ident is None:
                ident, self._next_id = self._next_id, self._next_id + 1
                self.check_runs[ident] = {"id": ident, "annotations": [], "requests": 0,
                                          "status": "queued", "conclusion": None}
            run = self.check_runs[ident]
            output = body.get("output") or {}
            run["annotations"] = [*run["annotations"], *output.get("annotations", [])]
            run["requests"] += 1
            run.update({k: v for k, v in body.items() if k != "output"})
            if output:
                run["output"] = {**run.get("output", {}),
                                 **{k: v for k, v in output.items() if k != "annotations"}}
            if body.get("conclusion"):
                run["status"] = "completed"
            answer = {**example, **{k: v for k, v in run.items()
                                    if k not in ("annotations", "requests", "output")}}
            answer["output"] = {**example.get("output", {}), **run.get("output", {}),
                                "annotations_count": len(run["annotations"])}
            answer["url"] = f"{self.url}/repos/{params['owner']}/{params['repo']}/check-runs/{ident}"
            return answer
