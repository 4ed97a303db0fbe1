"""Regexes over digit-normalised text, for the fast whole-file scan.

The scan groups lines by a key in which every run of digits is one "0" (``is_key_exact``: a
regex whose outcome cannot change when a digit run is shortened gives the same answer on the key
as on the line). What follows explains the per-digit part of that argument.

The scan counts distinct lines after mapping every ASCII digit to "0" (``123.45`` -> ``000.00``):
the bot's 8 million lines collapse to a few thousand shapes, and each shape is classified once.
A category regex whose outcome cannot depend on which digit it sees (no literal digit, no digit
range that covers only part of 0-9, no back-reference) gives the same answer on the normalised
text as on the original: it is *exact*. Any other regex is *loosened* so that it matches the
normalised text whenever the original could have matched the real line; lines that pass a
loosened regex are then re-checked with the real regex on the real line, so the result is exact
either way. The standard library's regex parser is used read-only, plus its compiler to compile
the loosened tree; if either is unavailable, the fallback is a regex that matches everything
(slower: every line gets the full check, but never a wrong count).
"""

from __future__ import annotations

import re
from typing import Any

try:
    import re._compiler as _sre_compile  # type: ignore[import-not-found]
    import re._parser as _sre_parse  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - Python 3.10
    import sre_compile as _sre_compile  # type: ignore[no-redef]
    import sre_parse as _sre_parse  # type: ignore[no-redef]

from tui.sources.logparse import required_literal

DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
_STR_DIGITS_TO_ZERO = str.maketrans("123456789", "000000000")
_ZERO, _NINE = ord("0"), ord("9")
_MATCH_ALL = re.compile("")

_c = _sre_parse  # opcodes are re-exported by the parser module


class _Unsupported(Exception):
    pass


class KeyRule:
    """A regex for normalised text: exact, or loosened, with a literal pre-check."""

    __slots__ = ("regex", "exact", "needle", "fold")

    def __init__(self, original: re.Pattern[str]) -> None:
        self.exact = not is_digit_sensitive(original)
        self.regex = original if self.exact else loosen(original)
        lit = required_literal(original)
        needle, self.fold = lit if lit else ("", False)
        self.needle = needle.translate(_STR_DIGITS_TO_ZERO)  # the digits were normalised too

    def search(self, text: str, folded: str) -> bool:
        if self.needle and self.needle not in (folded if self.fold else text):
            return False
        return self.regex.search(text) is not None


def is_key_exact(regex: re.Pattern[str]) -> bool:
    r"""Same match/no-match on a line and on its key (digits -> "0", digit runs -> one "0")?

    True when the regex cannot tell digits apart (``is_digit_sensitive``) and everything that
    can consume a digit is a single character set repeated without an upper bound and at most
    once required (``\d+``, ``[^']*``, ``.*?``): one digit then stands for a run of any length.
    """
    if is_digit_sensitive(regex):
        return False
    try:
        tree = _sre_parse.parse(regex.pattern, regex.flags)
        return not _run_sensitive(tree.data)
    except Exception:  # noqa: BLE001 - internal API: assume the worst
        return False


_DIGIT_CATEGORIES = frozenset(
    getattr(_c, name)
    for name in ("CATEGORY_DIGIT", "CATEGORY_WORD", "CATEGORY_NOT_SPACE", "CATEGORY_NOT_LINEBREAK",
                 "CATEGORY_UNI_DIGIT", "CATEGORY_UNI_WORD", "CATEGORY_UNI_NOT_SPACE",
                 "CATEGORY_UNI_NOT_LINEBREAK", "CATEGORY_LOC_WORD")
    if hasattr(_c, name)
)


def _eats_digit(op: Any, av: Any) -> bool:
    """Can this single-character item consume a digit?"""
    if op is _c.ANY or op is _c.NOT_LITERAL:
        return True
    if op is _c.IN:
        negate = False
        covers = False  # the set, before negation, holds digits
        for o, a in av:
            if o is _c.NEGATE:
                negate = True
            elif o is _c.RANGE and a[0] <= _NINE and a[1] >= _ZERO:
                covers = True
            elif o is _c.LITERAL and _ZERO <= a <= _NINE:
                covers = True
            elif o is _c.CATEGORY and a in _DIGIT_CATEGORIES:
                covers = True
        return not covers if negate else covers
    return False


def _run_sensitive(seq: Any) -> bool:
    for op, av in seq:
        if op in (_c.MAX_REPEAT, _c.MIN_REPEAT) or op is getattr(_c, "POSSESSIVE_REPEAT", None):
            lo, hi, body = av
            items = list(body)
            if lo <= 1 and hi == _c.MAXREPEAT and len(items) == 1 and _eats_digit(*items[0]):
                continue  # x+, x*: one digit stands for a run of any length
            if _run_sensitive(items):
                return True
            continue
        if _eats_digit(op, av):
            return True
        if any(_run_sensitive(child) for child in _children(op, av)):
            return True
    return False


def is_digit_sensitive(regex: re.Pattern[str]) -> bool:
    """Can the regex's outcome depend on *which* ASCII digit a character is?"""
    try:
        tree = _sre_parse.parse(regex.pattern, regex.flags)
        return _sensitive(tree.data)
    except Exception:  # noqa: BLE001 - internal API: assume the worst
        return True


def loosen(regex: re.Pattern[str]) -> re.Pattern[str]:
    """A regex matching normalised text wherever ``regex`` matches the original text."""
    try:
        tree = _sre_parse.parse(regex.pattern, regex.flags)
        new = _sre_parse.SubPattern(tree.state, _loosen(tree.data))
        return _sre_compile.compile(new, regex.flags)
    except Exception:  # noqa: BLE001 - unsupported construct or internal API change
        return _MATCH_ALL


def _digit_partial(lo: int, hi: int) -> bool:
    """A range that covers some but not all of 0-9."""
    covers_some = lo <= _NINE and hi >= _ZERO
    covers_all = lo <= _ZERO and hi >= _NINE
    return covers_some and not covers_all


def _set_sensitive(items: list[tuple[Any, Any]]) -> bool:
    for op, av in items:
        if op is _c.LITERAL and _ZERO <= av <= _NINE:
            return True
        if op is _c.RANGE and _digit_partial(*av):
            return True
    return False


def _children(op: Any, av: Any) -> list[list[tuple[Any, Any]]]:
    if op is _c.SUBPATTERN:
        return [av[3]]
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT) or op is getattr(_c, "POSSESSIVE_REPEAT", None):
        return [av[2]]
    if op is _c.BRANCH:
        return list(av[1])
    if op in (_c.ASSERT, _c.ASSERT_NOT):
        return [av[1]]
    if op is getattr(_c, "ATOMIC_GROUP", None):
        return [av]
    if op is _c.GROUPREF_EXISTS:
        return [av[1]] + ([av[2]] if av[2] is not None else [])
    return []


def _sensitive(seq: Any) -> bool:
    for op, av in seq:
        if op in (_c.LITERAL, _c.NOT_LITERAL):
            hit = _ZERO <= av <= _NINE
        elif op is _c.IN:
            hit = _set_sensitive(av)
        elif op in (_c.GROUPREF, _c.GROUPREF_EXISTS):
            hit = True
        else:
            hit = any(_sensitive(child) for child in _children(op, av))
        if hit:
            return True
    return False


def _any_text() -> tuple[Any, Any]:
    return (_c.MIN_REPEAT, (0, _c.MAXREPEAT, _sre_parse.SubPattern(None, [(_c.ANY, None)])))


def _sub(seq: Any) -> Any:
    state = getattr(seq, "state", None)
    return _sre_parse.SubPattern(state, _loosen(seq))


def _loosen(seq: Any) -> list[tuple[Any, Any]]:
    out: list[tuple[Any, Any]] = []
    for op, av in seq:
        if op is _c.LITERAL and _ZERO <= av <= _NINE:
            out.append((_c.IN, [(_c.RANGE, (_ZERO, _NINE))]))
        elif op is _c.NOT_LITERAL and _ZERO <= av <= _NINE:
            out.append((_c.ANY, None))
        elif op is _c.IN and _set_sensitive(av):
            if any(o is _c.NEGATE for o, _ in av):
                out.append((_c.ANY, None))
            else:
                out.append((_c.IN, list(av) + [(_c.LITERAL, _ZERO)]))
        elif op is _c.GROUPREF:
            out.append(_any_text())
        elif op is _c.GROUPREF_EXISTS:
            _group, yes, no = av
            branches = [_sub(yes), _sub(no) if no is not None else _sre_parse.SubPattern(None, [])]
            out.append((_c.BRANCH, (None, branches)))
        elif op is _c.SUBPATTERN:
            group, add_flags, del_flags, p = av
            out.append((op, (group, add_flags, del_flags, _sub(p))))
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            lo, hi, p = av
            out.append((op, (lo, hi, _sub(p))))
        elif op is _c.BRANCH:
            out.append((op, (av[0], [_sub(p) for p in av[1]])))
        elif op is _c.ASSERT:
            out.append((op, (av[0], _sub(av[1]))))
        elif op is _c.ASSERT_NOT:
            if _sensitive(av[1]):
                continue  # dropping a negative condition only widens the match
            out.append((op, av))
        elif op is getattr(_c, "POSSESSIVE_REPEAT", None) or op is getattr(
            _c, "ATOMIC_GROUP", None
        ):
            if _sensitive(_children(op, av)[0]):
                raise _Unsupported("no backtracking into a loosened atomic group")
            out.append((op, av))
        else:
            out.append((op, av))
    return out
