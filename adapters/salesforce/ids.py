"""Salesforce record ids: 15-character (case-sensitive) and 18-character (case-safe) forms.

The API returns 18-character ids; people and reports use 15. The last three characters encode,
for each five-character block of the 15, which letters are upper case, one character of
`A-Z0-5` per block (salesforce.md "Record IDs"). Ids are stored and compared in 18-character
form: two 15-character ids that differ only in case are different records, and a map keyed by
them would merge them if anything on the way folded case.
"""

from __future__ import annotations

import re

_SUFFIX_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_SHAPE = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-5]{3})?$")


def checksum(id15: str) -> str:
    """The three-character case-safety suffix of a 15-character id."""
    suffix = ""
    for block in range(3):
        bits = 0
        for position, char in enumerate(id15[block * 5 : block * 5 + 5]):
            if "A" <= char <= "Z":
                bits |= 1 << position
        suffix += _SUFFIX_ALPHABET[bits]
    return suffix


def _restore_case(id15: str, suffix: str) -> str | None:
    """The 15 characters with their case as the suffix records it; None if it cannot be."""
    out = []
    for block in range(3):
        bits = _SUFFIX_ALPHABET.index(suffix[block].upper())
        for position, char in enumerate(id15[block * 5 : block * 5 + 5]):
            upper = bool(bits & (1 << position))
            if not char.isalpha():
                if upper:
                    return None  # the suffix marks a digit as an upper-case letter
                out.append(char)
            else:
                out.append(char.upper() if upper else char.lower())
    return "".join(out)


def is_record_id(value: str) -> bool:
    """Whether `value` has the shape of a 15-character id, or of an 18-character one whose
    suffix is consistent with its first 15 characters (in any case)."""
    if not _SHAPE.match(value):
        return False
    if len(value) == 15 or checksum(value[:15]) == value[15:]:
        return True  # the common case: an id exactly as the API wrote it
    return _restore_case(value[:15], value[15:]) is not None


def to18(value: str) -> str:
    """The 18-character form of an id given in either form; ValueError if it is not an id.

    An 18-character id is case-insensitive: that is the suffix's purpose. Its first 15
    characters get back the case the suffix records, so `001d000000iqhslIAZ` (an id that went
    through something that folds case) is `001D000000IqhSLIAZ` again.
    """
    text = value.strip()
    if len(text) == 18 and _SHAPE.match(text) and checksum(text[:15]) == text[15:]:
        return text  # already the API's own form
    if not is_record_id(text):
        raise ValueError(f"{value!r} is not a Salesforce record id")
    id15 = text[:15] if len(text) == 15 else _restore_case(text[:15], text[15:])
    assert id15 is not None
    return id15 + checksum(id15)


def key_prefix(record_id: str) -> str:
    """The object's three-character key prefix (`001` Account, `003` Contact, …)."""
    return record_id[:3]
