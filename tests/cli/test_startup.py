"""What a command imports is what it uses: `--version` and `--help` answer from click alone,
and `ask` on an up-to-date index loads no document loader, no server, no database layer
and no sparse-matrix library (their imports were most of its start-up: docs/measured.md).
Timings are measured by bench/cli_startup.py, not here."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from bot.config import REPO_ROOT

PROGRAM = """
import sys
from bot.cli import cli
try:
    cli(sys.argv[1:], prog_name="alliance-bot")
except SystemExit as e:
    code = e.code
else:
    code = 0
print("\\nEXIT", code, "MODULES", " ".join(sorted(sys.modules)))
"""

# Never needed to print a version or the help.
HEAVY = {"pydantic", "numpy", "sqlalchemy", "onnxruntime", "faiss", "scipy", "fastapi", "httpx", "tokenizers"}
# Never needed to answer from an index whose documents did not change.
NOT_FOR_ASK = {
    "sqlalchemy",
    "scipy",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "markdown_it",
    "pypdf",
    "docx",
    "pptx",
    "trafilatura",
    "torch",
    "transformers",
    "sentence_transformers",
    "bot.ingest.loaders",
    "bot.ingest.pipeline",
    "bot.training",
    "bot.operator",
    "pydantic_settings",  # bot.config reads the environment itself: 80 ms less
    "asyncio",  # which pydantic-settings imported
}


def imported(*args: str, **env: str) -> tuple[int, set[str], str]:
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, *args],
        env=os.environ | env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    tail = result.stdout.rsplit("\nEXIT ", 1)[-1].split()
    assert tail[1] == "MODULES", result.stdout + result.stderr
    return (
        int(tail[0]) if tail[0].isdigit() else 1,
        {m.split(".")[0] for m in tail[2:]} | set(tail[2:]),
        result,
    )


def test_version_and_help_import_nothing_heavy():
    for args in (["--version"], ["--help"], ["ask", "--help"], ["model", "--help"]):
        code, modules, result = imported(*args)
        assert code == 0, result.stderr
        # A command's --help reads the settings first (the root group checks them): pydantic.
        heavy = HEAVY - {"pydantic"} if len(args) > 1 else HEAVY
        assert not modules & heavy, f"{args}: {sorted(modules & heavy)}"


def test_ask_on_an_unchanged_index_loads_only_what_answers(assistant, settings):
    env = {
        "ALLIANCE_INDEX_DIR": str(settings.index_dir),
        "ALLIANCE_DOCUMENTS_DIR": str(settings.documents_dir),
    }
    question = "Qui a lancé l'Alliance Dynamique ?"
    imported("ask", question, **env)  # brings the index up to date and remembers it is
    code, modules, result = imported("ask", question, **env)
    assert code == 0, result.stderr
    assert "La Poste" in result.stdout
    assert not modules & NOT_FOR_ASK, sorted(modules & NOT_FOR_ASK)
    assert {"onnxruntime", "faiss", "bot.answer.assistant"} <= modules  # it did answer


def test_a_changed_document_is_still_picked_up(tmp_path):
    """The shortcut only skips reading documents that did not change."""
    corpus = tmp_path / "documents"
    corpus.mkdir()
    (corpus / "cidre.md").write_text(
        "# Le cidre\n\nLe cidre de l'Alliance est brassé à Caen.\n", encoding="utf-8"
    )
    old = time.time() - 60  # settled files: the signature is remembered
    os.utime(corpus / "cidre.md", (old, old))
    env = {"ALLIANCE_INDEX_DIR": str(tmp_path / "index"), "ALLIANCE_DOCUMENTS_DIR": str(corpus)}
    code, modules, result = imported("search", "Où est brassé le cidre ?", **env)  # builds the index
    assert code == 0 and "cidre.md" in result.stdout, result.stderr
    code, modules, result = imported("search", "Où est brassé le cidre ?", **env)
    assert "bot.ingest.pipeline" not in modules  # remembered: nothing read
    (corpus / "verger.md").write_text(
        "# Le verger\n\nLe verger de l'Alliance compte exactement 417 pommiers normands.\n", encoding="utf-8"
    )
    code, modules, result = imported("search", "Combien de pommiers compte le verger ?", **env)
    assert code == 0, result.stderr
    assert "verger.md" in result.stdout and "bot.ingest.pipeline" in modules
