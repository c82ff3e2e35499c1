"""Import boundaries: the engine never pulls in docker, git, flask or click, and
each third-party library is imported by one module only."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

CORE = ["runner.engine.engine", "runner.model", "runner.language.parse", "runner.language.lint",
        "runner.events", "runner.tasks", "runner.expressions"]
FORBIDDEN = {"docker", "git", "pygit2", "flask", "click", "requests", "werkzeug", "rich"}

# library → the module allowed to import it
OWNERS: dict[str, str | tuple[str, ...]] = {
    "ruamel": "runner/yamlsource.py",
    "jsonschema": "runner/language/schema.py",
    "click": "runner/cli/",  # the commands
    # steps' containers, and the sidecar services' containers and networks beside them
    "docker": ("runner/executors/docker.py", "runner/executors/services.py"),
    "croniter": "runner/triggers/cron.py",
    "rich": "runner/reporters/live.py",  # the terminal's live view of `flows run`
    "jinja2": "runner/expressions/",
    "jq": "runner/expressions/jq_worker.py",  # libjq runs only in its bounded worker process
    "re2": "runner/expressions/regex.py",
    "flask": "webhooks/app.py",
    "pygit2": "runner/history/gitstore.py",
    "psycopg": "runner/plugins/postgres.py",
    "pymysql": "runner/plugins/mysql.py",
    "boto3": "runner/plugins/s3.py",
    "botocore": "runner/plugins/s3.py",
    "paho": "runner/plugins/mqtt.py",
    "google": "runner/plugins/gcs.py",  # google-cloud-storage and google-auth
    "azure": "runner/plugins/azure_blob.py",
    # redis has two owners for two separate concerns: the scale-out broker (webhooks/scale/)
    # and the Redis plugin family a flow uses (an optional extra, independent of the broker).
    "redis": ("webhooks/scale/", "runner/plugins/redis_lists.py"),
    "pika": "runner/plugins/amqp.py",
    "dramatiq": "webhooks/scale/broker.py",
    "prometheus_client": "webhooks/scale/metrics.py",
    "git": "runner/none",  # gitpython: not used; the git CLI and pygit2 are
}


def test_core_modules_do_not_import_adapters() -> None:
    code = (
        "import importlib, json, sys\n"
        f"for name in {CORE!r}:\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except ModuleNotFoundError as err:\n"
        "        if err.name != name: raise\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, cwd=REPO_ROOT).stdout
    loaded = set(json.loads(out))
    assert "runner" in loaded
    assert not loaded & FORBIDDEN, f"core modules import {sorted(loaded & FORBIDDEN)}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def test_each_library_has_one_owner_module() -> None:
    sources = [*REPO_ROOT.glob("runner/**/*.py"), *REPO_ROOT.glob("webhooks/**/*.py")]
    assert sources
    for path in sources:
        rel = path.relative_to(REPO_ROOT).as_posix()
        for library in _imports(path):
            owner = OWNERS.get(library)
            allowed = (owner,) if isinstance(owner, str) else owner or ()
            if allowed and not any(_owned_by(rel, o) for o in allowed):
                raise AssertionError(f"{rel} imports {library}; only {' or '.join(allowed)} may")


def _owned_by(rel: str, owner: str) -> bool:
    """A module is its owner exactly; a package owner ("dir/") owns the modules under it."""
    return rel.startswith(owner) if owner.endswith("/") else rel == owner


def test_owner_matching_is_exact_for_modules() -> None:
    assert _owned_by("runner/cli/main.py", "runner/cli/main.py")
    assert not _owned_by("runner/cli/server.py", "runner/cli/main.py")  # no prefix match
    assert _owned_by("webhooks/scale/broker.py", "webhooks/scale/")
    assert not _owned_by("webhooks/scaler.py", "webhooks/scale/")


def test_architecture_contracts_hold() -> None:
    """import-linter's contracts in pyproject.toml (layers, forbidden imports)."""
    lint = Path(sys.executable).parent / "lint-imports"
    done = subprocess.run([str(lint), "--no-cache"], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "broken" in done.stdout and ", 0 broken" in done.stdout
