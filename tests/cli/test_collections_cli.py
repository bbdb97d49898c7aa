"""`alliance-bot collections`, `keys add` and `--collection`, as an operator runs them."""

from __future__ import annotations

import hashlib
import json

from tests.cli.test_cli import run

CANARY = "Le badge du local technique de l'annexe Vénus porte le numéro 8812-LIRA."


def listed(index_dir) -> dict[str, dict]:
    r = run("collections", "--json", index_dir=index_dir)
    assert r.returncode == 0, r.stderr
    return {row["name"]: row for row in json.loads(r.stdout)}


def test_a_collection_is_created_filled_asked_and_made_public(tmp_path):
    index_dir = tmp_path / "embeddings"
    folder = tmp_path / "interne"
    folder.mkdir()
    (folder / "badge.md").write_text(f"# Badges\n\n{CANARY}\n", encoding="utf-8")

    r = run("collections", "create", "interne", index_dir=index_dir)
    assert r.returncode == 0 and "privée" in r.stdout, r.stderr
    rows = listed(index_dir)
    assert rows["alliance"]["default"] and rows["alliance"]["visibility"] == "public"
    assert rows["interne"]["visibility"] == "private" and rows["interne"]["documents"] == 0

    r = run("ingest", "--collection", "interne", str(folder), "--json", index_dir=index_dir)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["added"]
    assert (index_dir / "collections" / "interne" / "CURRENT").is_file()
    assert not (index_dir / "CURRENT").exists()  # the default collection untouched
    assert listed(index_dir)["interne"]["documents"] == 1

    asked = run(
        "ask",
        "-c",
        "interne",
        "Quel numéro porte le badge du local technique ?",
        "--json",
        index_dir=index_dir,
    )
    assert asked.returncode == 0, asked.stderr
    assert "8812-LIRA" in asked.stdout
    assert json.loads(asked.stdout)["collection"] == "interne"  # the contract names it
    found = run("search", "-c", "interne", "badge du local technique", "--json", index_dir=index_dir)
    assert found.returncode == 0 and "8812-LIRA" in found.stdout

    assert run("collections", "public", "interne", index_dir=index_dir).returncode == 0
    assert listed(index_dir)["interne"]["visibility"] == "public"
    assert run("collections", "private", "interne", index_dir=index_dir).returncode == 0
    assert listed(index_dir)["interne"]["visibility"] == "private"


def test_an_unknown_or_invalid_collection_is_a_usage_error(tmp_path):
    index_dir = tmp_path / "embeddings"
    missing = run("ask", "-c", "nulle-part", "Bonjour ?", index_dir=index_dir)
    assert missing.returncode == 2 and "Collection introuvable" in missing.stderr
    invalid = run("ingest", "-c", "../dehors", str(tmp_path), index_dir=index_dir)
    assert invalid.returncode == 2 and "Nom de collection invalide" in invalid.stderr
    assert not (tmp_path / "dehors").exists() and not index_dir.exists()
    env = run("ask", "Bonjour ?", index_dir=index_dir, ALLIANCE_COLLECTION="../dehors")
    assert env.returncode == 2 and "ALLIANCE_COLLECTION" in env.stderr


def test_keys_add_prints_the_key_once_and_stores_its_hash(tmp_path):
    keys = tmp_path / "keys.json"
    r = run(
        "keys",
        "add",
        "staff",
        "--read",
        "interne,public",
        "--admin",
        "interne",
        index_dir=tmp_path,
        ALLIANCE_KEYS_FILE=str(keys),
    )
    assert r.returncode == 0, r.stderr
    key = r.stdout.strip()
    assert len(key) > 30 and key not in keys.read_text() and key not in r.stderr
    entry = json.loads(keys.read_text())["keys"]["staff"]
    assert entry == {
        "sha256": hashlib.sha256(key.encode()).hexdigest(),
        "read": ["interne", "public"],
        "admin": ["interne"],
    }
    unset = run("keys", "add", "x", "--read", "interne", index_dir=tmp_path)
    assert unset.returncode == 1 and "ALLIANCE_KEYS_FILE" in unset.stderr


def test_collections_are_renamed_and_deleted_never_the_default(tmp_path):
    index_dir = tmp_path / "embeddings"
    keys = tmp_path / "keys.json"
    env = {"ALLIANCE_KEYS_FILE": str(keys)}
    assert run("collections", "create", "interne", index_dir=index_dir).returncode == 0
    assert run("keys", "add", "staff", "--read", "interne", index_dir=index_dir, **env).returncode == 0

    r = run("collections", "rename", "interne", "equipe", index_dir=index_dir, **env)
    assert r.returncode == 0, r.stderr
    assert "renommée en equipe" in r.stdout and "staff" in r.stdout  # the keys changed are named
    assert set(listed(index_dir)) == {"alliance", "equipe"}
    assert json.loads(keys.read_text())["keys"]["staff"]["read"] == ["equipe"]

    refused = run("collections", "delete", "equipe", index_dir=index_dir, **env)  # no --yes, no answer
    assert refused.returncode == 1 and "equipe" in listed(index_dir)
    r = run("collections", "delete", "equipe", "--yes", index_dir=index_dir, **env)
    assert r.returncode == 0 and "supprimée" in r.stdout, r.stderr
    assert set(listed(index_dir)) == {"alliance"}
    assert json.loads(keys.read_text())["keys"]["staff"]["read"] == []

    default = run("collections", "delete", "alliance", "--yes", index_dir=index_dir)
    assert default.returncode == 1 and "par défaut" in default.stderr
    missing = run("collections", "rename", "nulle-part", "ailleurs", index_dir=index_dir)
    assert missing.returncode == 1 and "Collection introuvable" in missing.stderr
