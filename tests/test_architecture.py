"""The layers point one way, and docs/architecture.md names packages that exist."""

from __future__ import annotations

import importlib.util
import re

from bot.config import REPO_ROOT


def _imports_module():
    spec = importlib.util.spec_from_file_location("imports", REPO_ROOT / "bench" / "imports.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_no_core_module_imports_an_entry_point():
    imports = _imports_module()
    edges = imports.graph()
    assert len(edges) > 50  # the whole package was read
    assert imports.wrong_way(edges) == []


def test_every_path_the_architecture_page_names_exists():
    text = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(bot/[\w/.]+|tests/[\w/.]+|bench/[\w/.]+)`", text))
    assert len(named) > 20
    missing = sorted(p for p in named if not (REPO_ROOT / p).exists())
    assert missing == []
    for short in re.findall(r"`((?:answer|embedding|operator)/[\w/.]+)`", text):
        assert (REPO_ROOT / "bot" / short).exists(), short


def test_a_stage_never_imports_a_later_stage_or_a_sibling():
    imports = _imports_module()
    assert imports.points_back("bot.index.store", "bot.ingest.chunking")  # storage -> ingest
    assert imports.points_back("bot.answer.composer", "bot.ingest.pipeline")  # serving -> writing
    assert imports.points_back("bot.operator.report", "bot.api.pages")
    assert not imports.points_back("bot.ingest.pipeline", "bot.index.store")
    assert not imports.points_back("bot.cli", "bot.api.app")  # entry points may share code
