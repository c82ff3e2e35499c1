"""The artifact store: lookups by branch and execution, trust, retention, concurrent writers,
a publisher killed with SIGKILL, and names or paths that try to leave their directory."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from runner.tasks.artifact_store import (
    ArtifactError,
    ArtifactStore,
    Publish,
    check_name,
    repo_dir,
    safe_relative,
)
from runner.tasks.beneath import UnsafePath, copy_into_beneath

ROOT = Path(__file__).resolve().parents[2]


def _publish(store: ArtifactStore, name: str, files: dict[str, bytes], branch: str = "main",
             execution: str = "E1", trusted: bool = True,
             retention: dt.timedelta = dt.timedelta(days=1)) -> int:
    staging = store.staging()
    staged = {}
    for index, (rel, data) in enumerate(files.items()):
        (staging / str(index)).write_bytes(data)
        staged[rel] = staging / str(index)
    who = Publish(branch, "c0ffee", execution, "ns.flow", trusted, retention)
    return store.publish(name, staged, who).id


def test_the_latest_publish_on_a_branch_is_found_and_other_branches_are_not(
        tmp_path: Path) -> None:
    store = ArtifactStore.for_repo(tmp_path, "acme/app")
    _publish(store, "dist", {"a.txt": b"one"}, execution="E1")
    newest = _publish(store, "dist", {"a.txt": b"two", "sub/b.txt": b"b"}, execution="E2")
    _publish(store, "dist", {"a.txt": b"other"}, branch="dev", execution="E3")
    found = store.find("dist", branch="main")
    assert found is not None and found.id == newest and found.execution == "E2"
    assert [f.path for f in found.files] == ["a.txt", "sub/b.txt"]
    assert store.blob(found.files[0]).read_bytes() == b"two"
    by_run = store.find("dist", execution="E1")
    assert by_run is not None and store.blob(by_run.files[0]).read_bytes() == b"one"
    assert store.find("dist", branch="feature") is None
    assert store.find("other", branch="main") is None
    # another repository's store is another directory
    assert ArtifactStore.for_repo(tmp_path, "acme/other").find("dist", branch="main") is None
    assert [a.execution for a in store.list()] == ["E3", "E2", "E1"]


def test_same_content_is_stored_once(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    _publish(store, "a", {"x": b"same"})
    _publish(store, "b", {"y": b"same"})
    assert len(list(store.blobs.glob("*/*"))) == 1


def test_a_trusted_lookup_never_returns_what_an_untrusted_run_published(tmp_path: Path) -> None:
    """The fork attack: a fork's pull request publishes `dist` on main (newer than the real
    one) hoping the next trusted deploy run downloads it; by execution id too."""
    store = ArtifactStore(tmp_path / "s")
    _publish(store, "dist", {"app": b"real"}, execution="TRUSTED")
    _publish(store, "dist", {"app": b"evil"}, execution="FORK", trusted=False)
    found = store.find("dist", branch="main")
    assert found is not None and store.blob(found.files[0]).read_bytes() == b"real"
    assert store.find("dist", execution="FORK") is None
    seen_by_fork = store.find("dist", branch="main", trusted_only=False)
    assert seen_by_fork is not None and seen_by_fork.execution == "FORK"


def test_retention_drops_expired_publishes_and_only_their_unshared_content(
        tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "s")
    _publish(store, "short", {"x": b"shared", "y": b"only-short"},
             retention=dt.timedelta(hours=1))
    _publish(store, "long", {"x": b"shared"}, retention=dt.timedelta(days=10))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    assert store.prune(later) == 1
    assert [a.name for a in store.list()] == ["long"]
    kept = store.find("long", branch="main")
    assert kept is not None and store.blob(kept.files[0]).read_bytes() == b"shared"
    assert len(list(store.blobs.glob("*/*"))) == 1


def test_a_publisher_killed_mid_publish_leaves_nothing_readable_and_prune_cleans_it(
        tmp_path: Path) -> None:
    """SIGKILL after the first blob is in place: the publish is pending, never found; its
    row, blob and staged files go once abandoned."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from runner.tasks import artifact_store
        from runner.tasks.artifact_store import ArtifactStore, Publish
        store = ArtifactStore(Path({str(tmp_path / 's')!r}))
        staging = store.staging()
        (staging / "0").write_bytes(b"first")
        (staging / "1").write_bytes(b"second")
        real = os.replace
        def replace_then_die(src, dst):
            real(src, dst)
            os.kill(os.getpid(), signal.SIGKILL)
        artifact_store.os.replace = replace_then_die
        store.publish("dist", {{"a": staging / "0", "b": staging / "1"}},
                      Publish("main", None, "E", "ns.f", True))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == -9, result.stderr
    store = ArtifactStore(tmp_path / "s")
    assert store.find("dist", branch="main") is None and store.list() == []
    assert len(list(store.blobs.glob("*/*"))) == 1
    assert store.prune() == 0  # not yet abandoned: a publish may still be writing
    assert store.prune(dt.datetime.now(dt.UTC) + dt.timedelta(hours=7)) == 1
    assert list(store.blobs.glob("*/*")) == []
    # staged files are pruned by age (their mtime), as a killed publish leaves them
    old = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=7)).timestamp()
    for folder in (store.root / "staging").iterdir():
        os.utime(folder, (old, old))
    store.prune()
    assert list((store.root / "staging").iterdir()) == []


def test_concurrent_publishers_in_separate_processes_all_land(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from pathlib import Path
        from runner.tasks.artifact_store import ArtifactStore, Publish
        store = ArtifactStore(Path({str(tmp_path / 's')!r}))
        for i in range(15):
            staging = store.staging()
            (staging / "f").write_bytes(f"{{sys.argv[1]}}-{{i}}".encode())
            store.publish("dist", {{"f": staging / "f"}},
                          Publish("main", None, f"{{sys.argv[1]}}-{{i}}", "ns.f", True))
            store.prune()
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, f"w{n}"]) for n in range(4)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    store = ArtifactStore(tmp_path / "s")
    found = store.list(limit=1000)
    assert len(found) == 60 and len({a.id for a in found}) == 60
    for artifact in found:  # every publish reads back its own content
        assert store.blob(artifact.files[0]).read_bytes() == artifact.execution.encode()


@pytest.mark.parametrize("path", ["../x", "/etc/passwd", "a/../../b", "..", "", ".",
                                  "a\\..\\b", "a/\0b", "./../x"])
def test_paths_that_leave_their_directory_are_refused(path: str) -> None:
    with pytest.raises(ArtifactError):
        safe_relative(path)


@given(st.text(alphabet="ab./\\\0", max_size=12))
def test_an_accepted_path_always_stays_inside(path: str) -> None:
    try:
        rel = safe_relative(path)
    except ArtifactError:
        return
    root = Path("/root-dir")
    assert os.path.normpath(root / rel).startswith("/root-dir/")
    assert safe_relative(rel) == rel


@pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "x" * 129, "a b", "-flag"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(ArtifactError):
        check_name(name)


def test_repository_keys_map_to_distinct_plain_directories() -> None:
    names = {repo_dir(r) for r in ("acme/app", "acme-app", "/home/u/app", "../../etc", "")}
    assert len(names) == 5
    assert all("/" not in n and not n.startswith(".") for n in names)


def test_a_fetch_never_writes_through_a_planted_link(tmp_path: Path) -> None:
    """A step planted `out -> /outside` and `file -> /outside/f` before the download."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "f").write_text("untouched")
    work = tmp_path / "work"
    work.mkdir()
    (work / "out").symlink_to(outside)
    (work / "file").symlink_to(outside / "f")
    blob = tmp_path / "blob"
    blob.write_text("artifact")
    with pytest.raises(UnsafePath):
        copy_into_beneath(blob, work, "out/f")
    copy_into_beneath(blob, work, "file")  # the link is replaced, not written through
    assert (outside / "f").read_text() == "untouched"
    assert not (work / "file").is_symlink() and (work / "file").read_text() == "artifact"


def test_a_publish_above_the_size_limit_is_refused_and_nothing_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from runner.tasks import artifact_store

    monkeypatch.setattr(artifact_store, "MAX_BYTES", 10)
    store = ArtifactStore(tmp_path / "s")
    with pytest.raises(ArtifactError, match="at most 10 bytes"):
        _publish(store, "big", {"a": b"123456", "b": b"789012"})
    assert store.list() == [] and not store.blobs.exists()
