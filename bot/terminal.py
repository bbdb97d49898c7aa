"""Text bound for a terminal: visitors' questions and comments, document titles and text.

Escape sequences (ESC, CSI, OSC 52 clipboard writes, OSC 8 links, window titles) and bidi
controls could act on the operator's terminal, so every such character is shown as a
visible `\\uXXXX` instead. Applied to the final string, after every decoding (HTML entities,
YAML escapes, JSON) has happened. In JSON text the escape is JSON's own, so it stays valid.
"""

from __future__ import annotations

import re

# C0 controls but tab and newline, DEL, C1 controls, line/paragraph separators, bidi controls.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe(text: str) -> str:
    """`text` with every character that could steer a terminal written as `\\uXXXX`."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
