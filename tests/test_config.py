"""Settings: the environment's flat names, read into the groups components take."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from bot.cli import cli
from bot.config import REPO_ROOT, Settings


def test_the_environment_keeps_its_names(monkeypatch):
    monkeypatch.setenv("ALLIANCE_MIN_CONFIDENCE", "0.4")
    monkeypatch.setenv("ALLIANCE_TOP_K", "7")
    monkeypatch.setenv("ALLIANCE_API_KEYS", "a, b")
    settings = Settings()
    assert settings.reader.min_confidence == 0.4
    assert settings.retrieval.top_k == 7
    assert settings.http.api_keys == ("a", "b")
    assert settings.answer.index == settings.index


def test_keywords_win_over_the_environment_whatever_its_case(monkeypatch, tmp_path):
    monkeypatch.setenv("alliance_top_k", "7")
    monkeypatch.setenv("Alliance_Index_Dir", str(tmp_path / "env"))
    monkeypatch.setenv("ALLIANCE_NOT_A_SETTING", "x")
    settings = Settings(index_dir=tmp_path / "keyword")
    assert settings.retrieval.top_k == 7
    assert settings.index.index_dir == tmp_path / "keyword"
    monkeypatch.setenv("ALLIANCE_TOP_K", "beaucoup")
    assert Settings(top_k=3).retrieval.top_k == 3  # the environment's bad value is not read


def test_a_copy_never_keeps_the_groups_of_its_original(tmp_path):
    original = Settings()
    assert original.index.index_dir != tmp_path
    copy = original.model_copy(update={"index_dir": tmp_path, "llm_url": "http://127.0.0.1:9"})
    assert copy.index.index_dir == tmp_path == copy.paths.index_dir
    assert copy.answer.llm.url == "http://127.0.0.1:9"


def test_a_bad_setting_is_named_as_the_user_wrote_it():
    result = CliRunner().invoke(cli, ["search", "x"], env={"ALLIANCE_FUSION": "lent"})
    assert result.exit_code == 2
    assert "ALLIANCE_FUSION:" in result.output and "ALLIANCE_ALLIANCE" not in result.output


def test_outside_config_no_code_reads_a_flat_field():
    """Components and entry points read the groups (`settings.http.rate_limit`)."""
    flat = set(Settings.model_fields) | {"backend", "data_path", "log_url"}
    found = []
    for path in (REPO_ROOT / "bot").rglob("*.py"):
        if path.name == "config.py" and path.parent.name == "bot":
            continue
        for name in re.findall(r"\bsettings\.(\w+)\b", Path(path).read_text(encoding="utf-8")):
            if name in flat:
                found.append(f"{path.relative_to(REPO_ROOT)}: settings.{name}")
    assert found == []
