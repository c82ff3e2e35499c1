"""Files beneath a directory that a step can write to, opened without following links.

A step (an untrusted one in a container, or a background process it left running) can plant
symbolic links in its working directory at any moment. Every path is therefore walked one
component at a time from an open directory with O_NOFOLLOW, so no link, however it is swapped
in, leads a copy or a write out of that directory: `outputFiles -> /etc/shadow` is refused,
not copied.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import BinaryIO

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
_CHUNK = 1 << 20


class UnsafePath(OSError):
    """A path that leaves its directory, goes through a link, or is not a regular file."""


def _parts(rel: str) -> list[str]:
    parts = [p for p in PurePosixPath(rel).parts if p not in ("", ".")]
    if not parts or parts[0] == "/" or ".." in parts:
        raise UnsafePath(errno.EPERM, f"'{rel}' is not a path inside the directory")
    return parts


@contextlib.contextmanager
def _parent(root: Path, parts: list[str], create: bool) -> Iterator[int]:
    """An open descriptor of the directory that holds parts[-1], walked without links."""
    fd = os.open(root, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o777, dir_fd=fd)
            try:
                child = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as err:
                if err.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafePath(err.errno, f"'{part}' is a link or not a directory") from None
                raise
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _open_regular(root: Path, rel: str) -> Iterator[BinaryIO]:
    """root/rel opened for reading: a regular file reached through no link."""
    parts = _parts(rel)
    with _parent(root, parts, create=False) as parent:
        try:
            fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=parent)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise UnsafePath(err.errno, f"'{rel}' is a symbolic link") from None
            raise
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):  # no FIFO, device, socket
            raise UnsafePath(errno.EPERM, f"'{rel}' is not a regular file")
        yield handle


def read_beneath(root: Path, rel: str) -> bytes:
    """The bytes of root/rel, a regular file reached through no link."""
    with _open_regular(root, rel) as source:
        return source.read()


def size_beneath(root: Path, rel: str) -> int:
    """The size of root/rel, a regular file reached through no link."""
    with _open_regular(root, rel) as source:
        return os.fstat(source.fileno()).st_size


def copy_beneath(root: Path, rel: str, target: Path) -> None:
    """Copy root/rel (no link followed) to target, a path the engine owns."""
    with _open_regular(root, rel) as source, open(target, "wb") as out:
        while chunk := source.read(_CHUNK):
            out.write(chunk)


def write_beneath(root: Path, rel: str, data: bytes) -> None:
    """Create or replace root/rel with data; directories are made, no link is followed
    (an existing link at the name is replaced, not written through)."""
    with _create_beneath(root, rel) as out:
        out.write(data)


def copy_into_beneath(source: Path, root: Path, rel: str) -> None:
    """write_beneath with the content of source (a file the engine owns), streamed."""
    with source.open("rb") as data, _create_beneath(root, rel) as out:
        shutil.copyfileobj(data, out, _CHUNK)


@contextlib.contextmanager
def _create_beneath(root: Path, rel: str) -> Iterator[BinaryIO]:
    parts = _parts(rel)
    with _parent(root, parts, create=True) as parent:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISLNK(os.lstat(parts[-1], dir_fd=parent).st_mode):
                os.unlink(parts[-1], dir_fd=parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(parts[-1], flags, 0o666, dir_fd=parent)
        except OSError as err:
            if err.errno == errno.ELOOP:  # a link swapped in after the unlink
                raise UnsafePath(err.errno, f"'{rel}' is a symbolic link") from None
            raise
        with os.fdopen(fd, "wb") as out:
            yield out


def regular_files(root: Path) -> Iterator[str]:
    """Relative paths of the regular files under root, in order; links are not followed
    (os.walk lists a link to a file among files: it is left out here)."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs.sort()
        base = Path(folder)
        for name in sorted(files):
            path = base / name
            with contextlib.suppress(OSError):
                if stat.S_ISREG(path.lstat().st_mode):
                    yield path.relative_to(root).as_posix()


def links(root: Path) -> Iterator[str]:
    """Relative paths of the symbolic links under root (to say why a match was not kept)."""
    for folder, dirs, files in os.walk(root, followlinks=False):
        base = Path(folder)
        for name in sorted([*dirs, *files]):
            if (base / name).is_symlink():
                yield (base / name).relative_to(root).as_posix()
