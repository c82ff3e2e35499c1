"""Files around a script step: namespace files in, input files in, output files out."""

from __future__ import annotations

import fnmatch
import json
import shutil
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from runner.tasks.base import TaskContext, TaskFailed

NSFILE = "nsfile://"


def _matches(path: str, patterns: list[str]) -> bool:
    pure = PurePosixPath(path)
    return any(pure.match(p) or fnmatch.fnmatch(path, p) for p in patterns)


def _inside(root: Path, name: str, what: str) -> Path:
    target = (root / name).resolve()
    if root.resolve() not in target.parents:
        raise TaskFailed(f"{what}: '{name}' is outside the working directory")
    return target


def copy_namespace_files(props: Mapping[str, Any], ctx: TaskContext) -> None:
    options = props.get("namespaceFiles") or {}
    if not options.get("enabled", False):
        return
    if ctx.namespace_files is None:
        raise TaskFailed("namespaceFiles is enabled but this run has no repository checkout")
    include = [str(p) for p in ctx.render(options.get("include") or ["**"])]
    exclude = [str(p) for p in ctx.render(options.get("exclude") or [])]
    source = ctx.namespace_files.root
    copied = 0
    for rel in ctx.namespace_files.paths():
        if _matches(rel, include) and not _matches(rel, exclude):
            target = ctx.workdir / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / rel, target)
            copied += 1
    ctx.log("DEBUG", f"namespaceFiles: copied {copied} file(s) from {source}")


def write_input_files(props: Mapping[str, Any], ctx: TaskContext) -> None:
    """inputFiles: name → inline text, or nsfile:///path for a file of the repository."""
    files = ctx.render(props.get("inputFiles") or {})
    if isinstance(files, str):  # Kestra also accepts a JSON map rendered from an expression
        try:
            files = json.loads(files)
        except json.JSONDecodeError:
            raise TaskFailed("inputFiles must be a map of file name to content") from None
    for name, content in files.items():
        target = _inside(ctx.workdir, str(name), "inputFiles")
        target.parent.mkdir(parents=True, exist_ok=True)
        text = str(content)
        if text.startswith(NSFILE):
            if ctx.namespace_files is None:
                raise TaskFailed(f"inputFiles: {text} needs a repository checkout")
            source = _inside(ctx.namespace_files.root, text[len(NSFILE):].lstrip("/"), "inputFiles")
            if not source.is_file():
                raise TaskFailed(f"inputFiles: {text} is not a file of the repository")
            shutil.copy2(source, target)
        else:
            target.write_text(text, encoding="utf-8")


def collect_output_files(props: Mapping[str, Any], ctx: TaskContext) -> dict[str, str]:
    """outputFiles globs → {relative name: artifact path}, copied out of the working dir."""
    patterns = [str(p) for p in ctx.render(props.get("outputFiles") or [])]
    if not patterns:
        return {}
    found: dict[str, str] = {}
    root = ctx.workdir.resolve()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".gitflows-") or not _matches(rel, patterns):
            continue
        found[rel] = str(ctx.keep_artifact(path, rel))
    return found
