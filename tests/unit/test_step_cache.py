"""The step cache's local store and rules: which entry a key and restore keys select, scopes,
eviction by age and size (blobs shared by keys), atomic concurrent writers of one key, the
`cache` property's checks and the limits' configuration."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from runner.ports.cache import Limits
from runner.ports.task import TaskFailed
from runner.tasks.cache_store import LocalStore, choose, limits_from, open_store
from runner.tasks.step_cache import parse


def put(store: LocalStore, key: str, content: bytes, created: float | None = None) -> str:
    tmp = store.scratch() / f"{key.replace('/', '_')}.{time.monotonic_ns()}.tar"
    tmp.write_bytes(content)
    digest = hashlib.sha256(content).hexdigest()
    entry = store.put(key, tmp, digest)
    if created is not None:  # an older save: rewrite its index as an older writer would have
        index = store._index(key)
        data = json.loads(index.read_text())
        index.write_text(json.dumps({**data, "created": created}))
        os.utime(index, (created, created))
    assert entry.size == len(content)
    return digest


def test_exact_key_wins_over_restore_keys(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    put(store, "pip-linux-aaa", b"old")
    put(store, "pip-linux-bbb", b"exact")
    entry, exact = choose(store, "pip-linux-bbb", ["pip-linux-", "pip-"])
    assert exact and entry is not None and entry.key == "pip-linux-bbb"


def test_restore_keys_in_order_then_newest(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    now = time.time()
    put(store, "pip-mac-1", b"a", created=now - 10)
    put(store, "pip-linux-1", b"b", created=now - 30)
    put(store, "pip-linux-2", b"c", created=now - 20)
    entry, exact = choose(store, "pip-linux-3", ["pip-linux-", "pip-"])
    assert not exact and entry is not None and entry.key == "pip-linux-2"  # newest of the first
    entry, _ = choose(store, "pip-win-1", ["pip-win-", "pip-"])
    assert entry is not None and entry.key == "pip-mac-1"  # the newest "pip-" overall
    assert choose(store, "npm-1", ["npm-"]) == (None, False)


def test_scopes_keep_repositories_apart(tmp_path: Path) -> None:
    mine, theirs = LocalStore(tmp_path, "repo-a"), LocalStore(tmp_path, "repo-b")
    put(mine, "deps-1", b"a")
    assert theirs.exact("deps-1") is None and theirs.with_prefix("deps-") == []
    assert mine.exact("deps-1") is not None


def test_eviction_by_age_keeps_what_was_used(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, limits=Limits(max_age=3600))
    now = time.time()
    put(store, "old", b"1", created=now - 7200)
    put(store, "used", b"2", created=now - 7200)
    entry = store.exact("used")
    assert entry is not None and store.fetch(entry, tmp_path / "out.tar")  # a hit is a use
    assert store.evict(now) == 1
    assert store.exact("old") is None and store.exact("used") is not None


def test_eviction_by_size_drops_least_recently_used_and_orphan_blobs(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, limits=Limits(max_bytes=250))
    now = time.time()
    first = put(store, "a", b"x" * 100, created=now - 300)
    put(store, "a-copy", b"x" * 100, created=now - 250)  # the same content: one blob
    put(store, "b", b"y" * 100, created=now - 200)
    put(store, "c", b"z" * 100, created=now - 100)
    for blob in (tmp_path / "blobs").iterdir():
        os.utime(blob, (now - 600, now - 600))
    assert store.evict(now) == 2  # a and a-copy, the oldest, until 200 bytes remain
    assert [k for k in ("a", "a-copy", "b", "c") if store.exact(k)] == ["b", "c"]
    assert not (tmp_path / "blobs" / f"{first}.tar").exists()
    assert len(list((tmp_path / "blobs").iterdir())) == 2


def test_a_shared_blob_stays_while_a_key_holds_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, limits=Limits(max_age=3600))
    now = time.time()
    digest = put(store, "old", b"same", created=now - 7200)
    put(store, "new", b"same")
    os.utime(tmp_path / "blobs" / f"{digest}.tar", (now - 600, now - 600))
    assert store.evict(now) == 1
    entry = store.exact("new")
    assert entry is not None and store.fetch(entry, tmp_path / "out.tar")
    assert (tmp_path / "out.tar").read_bytes() == b"same"


def test_eviction_clears_what_dead_writers_and_readers_left(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    now = time.time()
    half_tar, half_dir, fresh = (store.scratch() / n for n in ("w.tar", "r-dir", "new.tar"))
    half_tar.write_bytes(b"half")
    half_dir.mkdir()
    (half_dir / "entry.tar").write_bytes(b"half")
    fresh.write_bytes(b"being written")
    for path in (half_tar, half_dir):
        os.utime(path, (now - 2 * 86400, now - 2 * 86400))
    store.evict(now)
    assert list(store.scratch().iterdir()) == [fresh]


def test_a_fetch_of_an_evicted_entry_is_a_miss(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    digest = put(store, "k", b"data")
    (tmp_path / "blobs" / f"{digest}.tar").unlink()
    entry = store.exact("k")
    assert entry is not None and not store.fetch(entry, tmp_path / "out.tar")


def _writer(root: str, worker: int) -> None:
    store = LocalStore(Path(root))
    for round_ in range(25):
        put(store, "shared-key", f"worker {worker} round {round_} ".encode() * 2000)


def test_concurrent_writers_of_one_key_leave_a_whole_entry(tmp_path: Path) -> None:
    procs = [multiprocessing.get_context("spawn").Process(target=_writer, args=(str(tmp_path), n))
             for n in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    store = LocalStore(tmp_path)
    entry = store.exact("shared-key")
    assert entry is not None and store.fetch(entry, tmp_path / "out.tar")
    data = (tmp_path / "out.tar").read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry.digest and len(data) == entry.size
    assert data.startswith(b"worker ") and list((tmp_path / "tmp").iterdir()) == []
    for blob in (tmp_path / "blobs").iterdir():  # every blob is whole: its name is its hash
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == blob.stem


@pytest.mark.parametrize(("raw", "message"), [
    ({"key": "", "paths": ["a"]}, "cache.key"),
    ({"key": "k" * 513, "paths": ["a"]}, "cache.key"),
    ({"key": "a,b", "paths": ["a"]}, "cache.key"),
    ({"key": "k", "paths": ["../outside"]}, "without '..'"),
    ({"key": "k", "paths": ["/etc"]}, "relative"),
    ({"key": "k", "paths": []}, "names no path"),
])
def test_bad_cache_properties_fail_the_step(raw: dict[str, object], message: str) -> None:
    with pytest.raises(TaskFailed, match=message):
        parse(raw, in_container=False)


def test_home_paths_only_for_host_steps() -> None:
    spec = parse({"key": "k", "paths": ["~/.cache/pip", "./.venv"], "restoreKeys": "k-"}, False)
    assert spec.paths == (("home", ".cache/pip"), ("work", ".venv"))
    assert spec.restore_keys == ("k-",)
    with pytest.raises(TaskFailed, match="host's home"):
        parse({"key": "k", "paths": ["~/.cache/pip"]}, in_container=True)


def test_limits_and_store_from_configuration(tmp_path: Path) -> None:
    limits = limits_from({"FLOWS_CACHE_MAX_SIZE": "2G", "FLOWS_CACHE_MAX_ENTRY": "512M",
                          "FLOWS_CACHE_MAX_AGE_DAYS": "1.5"})
    assert limits == Limits(max_bytes=2 << 30, max_age=1.5 * 86400, max_entry=512 << 20)
    assert limits_from({}) == Limits()
    store = open_store({}, tmp_path, "scope")
    assert store.name == "local" and (tmp_path / "cache" / "blobs").is_dir()
    other = open_store({"FLOWS_CACHE_URL": str(tmp_path / "shared")}, tmp_path)
    assert isinstance(other, LocalStore) and other.root == tmp_path / "shared"
