"""The keys file (bot/keys.py): hashes only, rights per collection, read again when edited."""

from __future__ import annotations

import json

from bot.keys import KeysFile, add_key, key_hash


def test_a_key_added_is_stored_as_its_hash_only(tmp_path):
    path = tmp_path / "keys.json"
    key = add_key(path, "staff", ["interne", "interne"], ["interne"])
    text = path.read_text()
    assert key not in text
    entry = json.loads(text)["keys"]["staff"]
    assert entry == {"sha256": key_hash(key), "read": ["interne"], "admin": ["interne"]}
    rights = KeysFile(path).rights(key)
    assert rights is not None and rights.id == "staff" and rights.reads("interne")
    assert "interne" in rights.admin


def test_a_wrong_or_prefix_key_has_no_rights(tmp_path):
    path = tmp_path / "keys.json"
    key = add_key(path, "staff", ["interne"], [])
    keys = KeysFile(path)
    assert keys.rights(key[:-1]) is None
    assert keys.rights(key + "x") is None
    assert keys.rights(key_hash(key)) is None  # the stored hash is not itself a key
    assert KeysFile(None).rights(key) is None


def test_an_edit_of_the_file_takes_effect_without_a_restart(tmp_path):
    path = tmp_path / "keys.json"
    first = add_key(path, "a", ["interne"], [])
    keys = KeysFile(path)
    assert keys.rights(first).reads("interne")
    second = add_key(path, "a", ["autre"], [])  # the same id: its key replaced
    assert keys.rights(first) is None
    assert not keys.rights(second).reads("interne") and keys.rights(second).reads("autre")
    data = json.loads(path.read_text())
    data["keys"]["a"]["sha256"] = "short"  # a broken entry opens nothing
    path.write_text(json.dumps(data))
    assert keys.rights(second) is None
