"""What reaches a terminal: escape sequences and bidi controls shown, never obeyed."""

from __future__ import annotations

import json

from bot.terminal import safe


def test_escape_sequences_and_bidi_controls_are_shown_not_obeyed():
    hostile = (
        "Q\x1b]0;titre\x07 \x1b[2J \x1b]52;c;ZXZpbA==\x07 \x1b]8;;https://x.example\x1b\\lien"
        "\x1b]8;;\x1b\\ \x9b31m \u202egpj.exe\u2069 \x7f fin"
    )
    shown = safe(hostile)
    assert not any(c in shown for c in "\x1b\x07\x9b\u202e\u2069\x7f")
    assert "\\u001b]0;titre\\u0007" in shown and "\\u202egpj.exe" in shown
    assert safe("ligne 1\n\tligne 2 « é » 😀") == "ligne 1\n\tligne 2 « é » 😀"


def test_json_stays_valid_and_decodes_to_the_same_text():
    value = {"question": "a\x1b[31m\u2066b\x85c"}
    text = safe(json.dumps(value, ensure_ascii=False))
    assert "\x1b" not in text and "\u2066" not in text and "\x85" not in text
    assert json.loads(text) == value
