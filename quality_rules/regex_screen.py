"""A vectorised screen for Python regexes: which strings *could* match, decided by Arrow's RE2.

Rule semantics are Python ``re`` (GE-pandas' ``str.contains``), and RE2 is another flavour, so
RE2 never decides a match here. It only rules strings *out*: every non-empty match of a pattern
starts with a character from the pattern's FIRST set, so a string containing none of those
characters cannot match. ``first_chars`` derives that set from Python's own parse of the pattern
and gives up (returns None) whenever it cannot be exact: patterns that can match the empty
string, ``.``, negated classes, case-insensitive flags, look-arounds, back-references, huge
classes. The strings that pass the screen are then searched with Python ``re`` as before.

For a high-cardinality column (an id checked for whitespace) this turns a million Python calls
into one C++ pass plus a handful of Python calls.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np
import pyarrow as pa

try:  # the parser ``re`` itself uses; private, so any surprise just disables the screen
    import re._constants as _c
    import re._parser as _p
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants as _c  # type: ignore[no-redef]
    import sre_parse as _p  # type: ignore[no-redef]

_MAX_CHARS = 4096
_SURROGATES = range(0xD800, 0xE000)  # cannot occur in UTF-8 text


class _GiveUp(Exception):
    pass


@lru_cache(maxsize=8)
def _category_chars(escape: str, flags: int) -> frozenset[int]:
    """Every code point ``escape`` (e.g. ``\\s``) matches under ``flags``, found by Python re itself."""
    everything = "".join(map(chr, range(0x110000)))
    return frozenset(ord(m.group()) for m in re.finditer(escape, everything, flags & re.ASCII))


_CATEGORIES = {_c.CATEGORY_SPACE: "\\s", _c.CATEGORY_DIGIT: "\\d"}


def _class_chars(items: list, flags: int) -> set[int]:
    out: set[int] = set()
    for op, av in items:
        if op is _c.LITERAL:
            out.add(av)
        elif op is _c.RANGE:
            lo, hi = av
            if hi - lo > _MAX_CHARS:
                raise _GiveUp
            out.update(range(lo, hi + 1))
        elif op is _c.CATEGORY and av in _CATEGORIES:
            out |= _category_chars(_CATEGORIES[av], flags)
        else:  # NEGATE, \w, \S, ...: too many characters to be worth it
            raise _GiveUp
    return out


def _first(seq: list, flags: int) -> tuple[set[int], bool]:
    """(characters a match of ``seq`` can start with, whether ``seq`` can match empty)."""
    chars: set[int] = set()
    for op, av in seq:
        c, nullable = _first_item(op, av, flags)
        chars |= c
        if not nullable:
            return chars, False
    return chars, True


def _first_item(op, av, flags: int) -> tuple[set[int], bool]:
    if op is _c.LITERAL:
        return {av}, False
    if op is _c.IN:
        return _class_chars(av, flags), False
    if op is _c.SUBPATTERN:
        _group, add_flags, del_flags, sub = av
        if add_flags & (re.IGNORECASE | re.LOCALE | re.VERBOSE) or del_flags:
            raise _GiveUp
        return _first(sub, flags | add_flags)
    if op is _c.ATOMIC_GROUP:
        return _first(av, flags)
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        lo, _hi, sub = av
        chars, nullable = _first(sub, flags)
        return chars, nullable or lo == 0
    if op is _c.BRANCH:
        chars, nullable = set(), False
        for alt in av[1]:
            c, n = _first(alt, flags)
            chars |= c
            nullable = nullable or n
        return chars, nullable
    if op is _c.AT:  # ^ $ \b \A \Z: zero-width, consume nothing
        return set(), True
    raise _GiveUp  # ANY, NOT_LITERAL, look-arounds, back-references, conditionals


def first_chars(pattern: str) -> frozenset[int] | None:
    """The characters every match of ``pattern`` starts with, or None when no exact set is known."""
    try:
        parsed = _p.parse(pattern)
        flags = parsed.state.flags
        if flags & (re.IGNORECASE | re.LOCALE | re.VERBOSE):
            return None
        chars, nullable = _first(parsed.data, flags)
    except (_GiveUp, re.error, AttributeError, TypeError, ValueError):
        return None
    if nullable or not chars or len(chars) > _MAX_CHARS:
        return None
    return frozenset(c for c in chars if c not in _SURROGATES)


@lru_cache(maxsize=256)
def is_single_class(pattern: str) -> bool:
    """True when ``pattern`` is one character (class) repeated at least once, e.g. ``\s++``, ``[@#]``, ``\d+``.

    Then a search matches exactly when the string holds one of its FIRST characters, so for an
    ASCII-only string the byte-table hit *is* the answer and Python is not needed at all.
    """
    if first_chars(pattern) is None:
        return False
    data = _p.parse(pattern).data
    if len(data) != 1:
        return False
    op, av = data[0]
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        lo, _hi, sub = av
        if lo < 1 or len(sub) != 1:
            return False
        op, av = sub[0]
    return op in (_c.LITERAL, _c.IN)


def _ranges(chars: frozenset[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for c in sorted(chars):
        if out and out[-1][1] == c - 1:
            out[-1] = (out[-1][0], c)
        else:
            out.append((c, c))
    return out


@lru_cache(maxsize=256)
def re2_screen(pattern: str) -> str | None:
    """An RE2 pattern that matches every string Python ``re.search(pattern, s)`` can match, or None."""
    chars = first_chars(pattern)
    if chars is None:
        return None
    parts = [f"\\x{{{lo:x}}}" if lo == hi else f"\\x{{{lo:x}}}-\\x{{{hi:x}}}" for lo, hi in _ranges(chars)]
    return "[" + "".join(parts) + "]"




@lru_cache(maxsize=256)
def byte_table(pattern: str) -> np.ndarray | None:
    """A 256-entry table: True for each UTF-8 byte that can belong to a character a match starts with.

    ASCII characters are their own byte; any other character is encoded with bytes >= 0x80 only,
    so a string whose bytes all miss the table cannot contain a FIRST character.
    """
    chars = first_chars(pattern)
    if chars is None:
        return None
    table = np.zeros(256, dtype=bool)
    for c in chars:
        if c < 0x80:
            table[c] = True
        else:
            table[0x80:] = True
    return table


def candidate_rows(arr: pa.Array, table: np.ndarray) -> np.ndarray:
    """Rows of a string Array holding at least one byte marked in ``table`` (nulls: False).

    One table lookup over the array's UTF-8 data buffer, then the few hit bytes are mapped back
    to rows through the offsets: no per-row work at all.
    """
    n = len(arr)
    out = np.zeros(n, dtype=bool)
    if n == 0 or arr.null_count == n:
        return out
    if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
        raise TypeError(f"candidate_rows needs string or large_string, not {arr.type}")
    _validity, offsets_buf, data_buf = arr.buffers()
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    offsets = np.frombuffer(offsets_buf, dtype=width)[arr.offset: arr.offset + n + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    if end == start or data_buf is None:
        return out
    data = np.frombuffer(data_buf, dtype=np.uint8)[start:end]
    hit_bytes = np.flatnonzero(table[data]) + start
    if len(hit_bytes):
        rows = np.searchsorted(offsets, hit_bytes, side="right") - 1
        out[rows] = True
    if arr.null_count:
        out &= arr.is_valid().to_numpy(zero_copy_only=False)
    return out


__all__ = ["byte_table", "candidate_rows", "first_chars", "is_single_class", "re2_screen"]
