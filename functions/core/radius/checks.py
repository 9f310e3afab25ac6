"""Custom check attributes of a policy, with FreeRADIUS operator semantics (SPEC S6).

Every check attribute must hold for the Access-Request. As in FreeRADIUS (``paircompare``):

| op | holds when |
|---|---|
| ``==`` | some value of the attribute in the request equals the check value |
| ``!=`` | the attribute is present with some value different from the check value |
| ``>`` ``>=`` ``<`` ``<=`` | some value compares so, as integers |
| ``=~`` / ``!~`` | some value matches / does not match the regular expression (a search) |
| ``=*`` / ``!*`` | the attribute is present / absent (the value is ignored) |
| ``:=`` | always: it sets a server-side value and compares nothing |

An attribute absent from the request fails every operator except ``!*`` and ``:=``.
``Simultaneous-Use`` is a server-side attribute: it is never compared; its value caps the subscriber's
concurrent sessions (:func:`simultaneous_use`).

Regular expressions run on RE2, a linear-time engine: no pattern can stall the service however the
request is spelled (``^(a+)+$`` against a long NAS-Identifier takes microseconds). A pattern RE2
cannot compile (syntax errors, back-references, look-arounds) is refused when the policy is saved
(:func:`pattern_error`) and never matches if one is stored anyway.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import re2

from core.radius.model import CustomAttribute

REGEX_OPS = frozenset({"=~", "!~"})
PRESENCE_OPS = frozenset({"=*", "!*"})
SET_OPS = frozenset({":="})
SIMULTANEOUS_USE = "simultaneous-use"
_MAX_PROGRAM = 1 << 20  # bytes of compiled program a pattern may use

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.max_mem = _MAX_PROGRAM


class PatternError(ValueError):
    """A regular expression the engine cannot compile."""


@lru_cache(maxsize=512)
def compile_pattern(pattern: str) -> Any:
    """The compiled pattern (cached: a few policies serve every login); raises :class:`PatternError`."""
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "invalid pattern"
        text = reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
        raise PatternError(text) from None


def pattern_error(pattern: str) -> str | None:
    """Why a check pattern is refused, or None when it compiles."""
    try:
        compile_pattern(pattern)
    except PatternError as exc:
        return str(exc)
    return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _holds(op: str, want: str, got: str) -> bool:
    """Whether one request value satisfies a comparison operator."""
    if op == "==":
        return got == want
    if op == "!=":
        return got != want
    if op in REGEX_OPS:
        try:
            found = compile_pattern(want).search(got) is not None
        except PatternError:
            return False  # a stored pattern that does not compile matches nothing
        return found if op == "=~" else not found
    g, w = _int(got), _int(want)
    if g is None or w is None:
        return False
    return (
        (op == ">" and g > w) or (op == ">=" and g >= w) or (op == "<" and g < w) or (op == "<=" and g <= w)
    )


def check_holds(check: CustomAttribute, values: tuple[str, ...]) -> bool:
    """Whether one check attribute holds for the request's values of that attribute."""
    op = check.op or "=="
    if op in SET_OPS or check.name.lower() == SIMULTANEOUS_USE:
        return True
    if op == "=*":
        return bool(values)
    if op == "!*":
        return not values
    return any(_holds(op, check.value, got) for got in values)


def simultaneous_use(checks: Iterable[CustomAttribute]) -> int | None:
    """The smallest ``Simultaneous-Use`` set among the check attributes (None: not set)."""
    limits = [
        n
        for c in checks
        if c.name.lower() == SIMULTANEOUS_USE and c.op not in PRESENCE_OPS
        for n in [_int(c.value)]
        if n is not None and n > 0
    ]
    return min(limits) if limits else None
