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


def is_record_id(value: str) -> bool:
    """Whether `value` has the shape of a 15- or 18-character id (with a valid checksum)."""
    if not _SHAPE.match(value):
        return False
    return len(value) == 15 or checksum(value[:15]) == value[15:].upper()


def to18(value: str) -> str:
    """The 18-character form of an id given in either form; ValueError if it is not an id.

    An 18-character id's suffix is case-insensitive (that is its purpose), so it is
    re-derived from the first 15 characters rather than trusted.
    """
    text = value.strip()
    if not is_record_id(text):
        raise ValueError(f"{value!r} is not a Salesforce record id")
    return text[:15] + checksum(text[:15])


def key_prefix(record_id: str) -> str:
    """The object's three-character key prefix (`001` Account, `003` Contact, …)."""
    return record_id[:3]
