"""The folder of documents uploaded through `/admin/documents` (`<data dir>/uploads`, one of the
index's roots): safe names, atomic writes, a readability check before anything is replaced."""

from __future__ import annotations

import errno
import logging
import os
import re
import tempfile
import unicodedata
from pathlib import Path

from bot.errors import disk_full, invalid_filename, not_stored, unsupported_format
from bot.ingest.loaders import SUPPORTED_SUFFIXES, DocumentError, load_bytes

UPLOADS = "uploads"
logger = logging.getLogger("bot.api")


def uploads_dir(settings) -> Path:
    """`<data dir>/uploads` for the default collection, `<data dir>/collections/<name>/uploads`
    for another (the settings' collection)."""
    if settings.collections.named is None:
        return settings.paths.data_dir / UPLOADS
    return settings.index.documents_dir.parent / UPLOADS


def safe_name(filename: str) -> str:
    """A plain file name: no folder, no control character, a known extension."""
    name = unicodedata.normalize("NFC", filename.strip())
    bad = (
        not name
        or name.startswith(".")
        or "/" in name
        or "\\" in name
        or any(unicodedata.category(ch)[0] == "C" for ch in name)
        or not re.fullmatch(r"[\w .,()'&+-]{1,200}", name)
    )
    if bad:
        raise invalid_filename()
    if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
        raise unsupported_format()
    return name


def unreadable(data: bytes, name: str) -> str | None:
    """Why the loaders refuse `data` as the file `name`, or None when it reads."""
    try:
        load_bytes(data, Path(name), Path(name).suffix.lower())
    except DocumentError as e:
        return str(e)
    except Exception as e:  # noqa: BLE001 - a loader's own failure is a refusal, never a 500
        logger.warning("upload %s: %s", name, type(e).__name__)
        return f"fichier illisible ({type(e).__name__}) — unreadable file"
    return None


def store(folder: Path, target: Path, data: bytes) -> None:
    """Write `data` to `target` atomically (temp file, fsync, rename); on any failure, the
    temp file is removed and `target` is as it was."""
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".part")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        tmp = None
    except OSError as e:
        logger.warning("upload %s not stored: %s", target.name, e.strerror or type(e).__name__)
        if e.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
            raise disk_full() from None
        raise not_stored() from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def managed_file(folder: Path, source: str) -> Path | None:
    """The uploaded file behind `source` (`uploads/x.md`), or None for a document from elsewhere."""
    prefix = f"{UPLOADS}/"
    if not source.startswith(prefix) or "/" in source[len(prefix) :]:
        return None
    return folder / source[len(prefix) :]


def public_path(path: str, roots: list[Path]) -> str:
    """A skipped file as its source would be named (`uploads/x.md`): never the server's path."""
    for root in roots:
        try:
            return Path(path).relative_to(root.resolve().parent).as_posix()
        except ValueError:
            continue
    return Path(path).name
