"""Files around a script step: namespace files in, input files in, output files out."""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from runner.ports.task import TaskContext, TaskFailed
from runner.tasks.beneath import UnsafePath, links, read_beneath, regular_files, write_beneath

NSFILE = "nsfile://"


def matches(path: str, patterns: list[str]) -> bool:
    """Does a relative path match one of the globs (`**` across directories)?"""
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
        if matches(rel, include) and not matches(rel, exclude):
            try:  # a committed link must not copy a host file into the step's reach
                write_beneath(ctx.workdir, rel, read_beneath(source, rel))
            except UnsafePath as err:
                ctx.log("WARN", f"namespaceFiles: {rel} not copied: {err.strerror}")
                continue
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
        _inside(ctx.workdir, str(name), "inputFiles")
        text = str(content)
        try:
            if text.startswith(NSFILE):
                if ctx.namespace_files is None:
                    raise TaskFailed(f"inputFiles: {text} needs a repository checkout")
                try:
                    data = read_beneath(ctx.namespace_files.root, text[len(NSFILE):].lstrip("/"))
                except OSError:
                    raise TaskFailed(f"inputFiles: {text} is not a file of the repository") from None
            else:
                data = text.encode("utf-8")
            write_beneath(ctx.workdir, str(name), data)
        except UnsafePath as err:
            raise TaskFailed(f"inputFiles: '{name}': {err.strerror}") from None


def collect_output_files(props: Mapping[str, Any], ctx: TaskContext) -> dict[str, str]:
    """outputFiles globs → {relative name: artifact path}, copied out of the working dir."""
    patterns = [str(p) for p in ctx.render(props.get("outputFiles") or [])]
    if not patterns:
        return {}
    found: dict[str, str] = {}
    root = ctx.workdir.resolve()
    for rel in regular_files(root):
        if rel.startswith(".gitflows-") or not matches(rel, patterns):
            continue
        try:
            found[rel] = str(ctx.keep_artifact(root / rel, rel))
        except UnsafePath as err:  # swapped for a link after the walk
            ctx.log("WARN", f"outputFiles: {rel} not kept: {err.strerror}")
    for rel in links(root):
        if matches(rel, patterns):
            ctx.log("WARN", f"outputFiles: {rel} not kept: it is a symbolic link, and files are "
                            "never copied out of the working directory through links")
    return found
