"""Finding and reading files safely: the walk, symlinks, file names, stable reads.

Ingest never leaves the folder it was given: the walk does not follow links, and a
symlink whose target resolves outside the folder is skipped. A file is read until two
stats around the read agree, so a file being rewritten is never taken for empty.
"""

from __future__ import annotations

import os
import stat
import time
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

from bot.ingest.loaders.common import (
    CHANGING,
    MAX_FILE_BYTES,
    NOT_A_FILE,
    NOT_FOUND,
    QUIET_SECONDS,
    READ_ATTEMPTS,
    READ_RETRY_SECONDS,
    DocumentError,
    too_large,
)

# Characters a file name may not carry: it becomes a `source` shown in answers, logs and
# the terminal. C0/C1 controls (newlines included), line/paragraph separators, and the
# bidi controls that can make « gpj.exe » read as « exe.jpg ».
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _bad_char(char: str) -> bool:
    return char in _BIDI or unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp")


def is_safe_name(name: str) -> bool:
    """No control, newline, bidi control or undecodable byte (surrogate escape) in `name`."""
    return not any(_bad_char(c) for c in name)


def shown_path(path: Path | str) -> str:
    """A path as it can be logged and printed: unsafe characters as \\uXXXX escapes."""
    text = path.as_posix() if isinstance(path, Path) else str(path)
    if is_safe_name(text):
        return text
    return "".join(f"\\u{ord(c):04x}" if _bad_char(c) else c for c in text)


def walk(root: Path) -> Iterator[tuple[Path, bool]]:
    """(path, is_link_to_directory) under `root`, sorted; hidden files and Office lock
    files left out. Links are listed, never followed: the caller decides on each."""
    found: list[tuple[str, Path, bool]] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        folder = Path(dirpath)
        # os.walk lists a link to a directory among the directories and never enters it.
        links = [d for d in dirnames if not d.startswith(".") and (folder / d).is_symlink()]
        dirnames[:] = [d for d in dirnames if not d.startswith(".") and d not in links]
        for name, is_dir_link in [(d, True) for d in links] + [(f, False) for f in filenames]:
            if not is_dir_link and name.startswith((".", "~$")):
                continue
            path = folder / name
            found.append((path.relative_to(root).as_posix(), path, is_dir_link))
    for _, path, is_dir_link in sorted(found):
        yield path, is_dir_link


def resolves_within(path: Path, root: Path) -> bool:
    """Whether `path`, links followed, ends up inside `root` (itself resolved)."""
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a link loop
        return False


def _signature(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_stable(
    path: Path,
    *,
    after_read: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    quiet: float = QUIET_SECONDS,
) -> bytes:
    """The bytes of `path`, read again (with a short pause) while the file comes back
    empty, its size/times change between the stats taken before and after the read, or
    it was modified less than `quiet` seconds ago (a writer may be between two writes).

    Still changing after READ_ATTEMPTS reads: DocumentError(CHANGING). Still empty: b"",
    which the caller reports as an empty file. `after_read(attempt)` runs between the
    read and the second stat (a seam for tests that change the file at that moment).
    """
    pause = READ_RETRY_SECONDS
    for attempt in range(READ_ATTEMPTS):
        if attempt:
            sleep(pause)
            pause *= 2
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
        except FileNotFoundError as exc:
            raise DocumentError(NOT_FOUND) from exc
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                raise DocumentError(NOT_A_FILE)
            if before.st_size > MAX_FILE_BYTES:
                raise DocumentError(too_large(before.st_size))
            data = _read_at_most(fd, MAX_FILE_BYTES + 1)
            if after_read is not None:
                after_read(attempt)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        if len(data) > MAX_FILE_BYTES:
            raise DocumentError(too_large(len(data)))
        try:  # replaced by a rename during the read: what was read is the old version
            now = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            now = None
        stable = _signature(before) == _signature(after) and len(data) == after.st_size
        replaced = now is None or now.st_ino != after.st_ino
        age = time.time_ns() - after.st_mtime_ns  # negative for a date in the future: not fresh
        settled = stable and not replaced and not 0 <= age < quiet * 1e9
        if settled and (data or attempt == READ_ATTEMPTS - 1):
            return data  # an empty file is believed only once it stayed empty
    raise DocumentError(CHANGING)


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    total = 0
    while total < limit:
        chunk = os.read(fd, min(1 << 20, limit - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)
