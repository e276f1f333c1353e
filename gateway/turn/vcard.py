"""Contact cards in a vCard file (2.1, 3.0, 4.0): the name and the phone number of each.

Twilio hands over a contact shared by MMS or WhatsApp as a `text/vcard` file, where Telegram and
the WhatsApp Cloud API give the name and number themselves. Read, the file tells the agent what a
contact tells it on every other channel (`Contact: name, phone`) instead of a file type no model
takes. Only `FN`, `N` and the first `TEL` of a card are read; photos and the rest are ignored.
"""

from __future__ import annotations

import quopri
import re
from dataclasses import dataclass

VCARD_TYPES = frozenset({"text/vcard", "text/x-vcard", "text/directory"})
FIELD_LIMIT = 200
"""Characters kept of a name or a number: the card is the user's, the line goes to the core."""

_FOLD = re.compile(r"\r?\n[ \t]")
_ESCAPES = {"n": "\n", "N": "\n", ",": ",", ";": ";", "\\": "\\"}
_ESCAPE = re.compile(r"\\(.)")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Card:
    name: str | None
    phone: str | None


def read_cards(data: bytes) -> list[Card]:
    """Every card with a name or a number, in the file's order; [] for anything unreadable."""
    cards: list[Card] = []
    fields: dict[str, str] | None = None
    for line in _lines(data.decode("utf-8", errors="replace")):
        name, params, value = _property(line)
        if name == "BEGIN" and value.strip().upper() == "VCARD":
            fields = {}
        elif name == "END" and fields is not None:
            card = _card(fields)
            if card.name or card.phone:
                cards.append(card)
            fields = None
        elif fields is not None and name in ("FN", "N", "TEL") and name not in fields:
            fields[name] = _decoded(value, params)
    return cards


def _lines(text: str) -> list[str]:
    """Logical lines: folded lines joined (a line break then a space or tab continues a line),
    and vCard 2.1's quoted-printable soft breaks (`=` at the end) too."""
    lines: list[str] = []
    for line in _FOLD.sub("", text).splitlines():
        if lines and lines[-1].endswith("=") and "QUOTED-PRINTABLE" in lines[-1].upper():
            lines[-1] = lines[-1][:-1] + line
        else:
            lines.append(line)
    return lines


def _property(line: str) -> tuple[str, dict[str, str], str]:
    """`[group.]NAME;PARAM=x;TYPE:value` as (NAME, params, value); a parameter value may be
    quoted and hold a colon."""
    quoted = False
    for index, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == ":" and not quoted:
            head, value = line[:index], line[index + 1 :]
            break
    else:
        return "", {}, ""
    name, *raw_params = head.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        key, equals, val = raw.partition("=")
        if not equals and key.strip().upper() == "QUOTED-PRINTABLE":  # 2.1 allows it bare
            key, val = "ENCODING", key
        params[key.strip().upper()] = val.strip().strip('"').upper()
    return name.rpartition(".")[2].strip().upper(), params, value


def _decoded(value: str, params: dict[str, str]) -> str:
    if params.get("ENCODING") == "QUOTED-PRINTABLE":
        raw = quopri.decodestring(value.encode("ascii", errors="replace"))
        try:
            return raw.decode(params.get("CHARSET") or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            return raw.decode("utf-8", errors="replace")
    return value


def _card(fields: dict[str, str]) -> Card:
    name = _unescaped(fields.get("FN", ""))
    if not name and fields.get("N"):  # Family;Given;Additional;Prefix;Suffix
        family, given, additional, prefix, suffix = [*_components(fields["N"]), "", "", "", ""][:5]
        name = " ".join(p for p in (prefix, given, additional, family, suffix) if p)
    phone = _unescaped(fields.get("TEL", ""))
    if phone.lower().startswith("tel:"):  # vCard 4 writes numbers as URIs
        phone = phone[4:].partition(";")[0]
    return Card(name=_clean(name), phone=_clean(phone))


def _components(value: str) -> list[str]:
    """A structured value's parts: split on the semicolons that are not escaped."""
    parts = re.split(r"(?<!\\);", value)
    return [_unescaped(part) for part in parts]


def _unescaped(value: str) -> str:
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), value)


def _clean(value: str) -> str | None:
    """One line, control characters out, at most `FIELD_LIMIT` characters; None when empty."""
    printable = "".join(c if c.isprintable() else " " for c in value)
    text = _SPACE.sub(" ", printable).strip()[:FIELD_LIMIT].strip()
    return text or None
