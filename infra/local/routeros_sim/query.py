"""RouterOS API queries (``?k=v``, ``?-k``, ``?<k=v``, ``?#|`` ...) compiled to row predicates."""

from __future__ import annotations

from collections.abc import Callable

from infra.local.routeros_sim.wire import WireError


def _prop_word(word: str) -> tuple[str, str, str | None]:
    """``?name=v`` / ``?=name=v`` / ``?<name=v`` / ``?>name=v`` / ``?-name`` / ``?name`` → (op, key, value)."""
    body = word[1:]
    op = "="
    if body[:1] in ("=", "<", ">", "-"):
        op, body = body[0], body[1:]
    if op == "-":
        return "-", body, None
    if "=" in body:
        key, value = body.split("=", 1)
        return op, key, value
    return ("has" if op == "=" else op), body, None


def _compare(a: str, b: str) -> int:
    try:
        x, y = int(a), int(b)
    except ValueError:
        return (a > b) - (a < b)
    return (x > y) - (x < y)


def _or_of_equalities(parsed: list[tuple[str, str, str | None]]) -> dict[str, set[str]] | None:
    """``?a=1 ?b=2 ?#| ?c=3 ?#| ...`` (how clients ask for "any of these") as key → values, so the
    common query costs one dict lookup per row instead of a stack run."""
    if not parsed or parsed[0][0] != "=":
        return None
    rest = parsed[1:]
    if len(rest) % 2:
        return None
    for i in range(0, len(rest), 2):
        if rest[i][0] != "=" or rest[i + 1] != ("#", "|", None):
            return None
    wanted: dict[str, set[str]] = {}
    for op, key, value in parsed:
        if op == "=" and value is not None:
            wanted.setdefault(key, set()).add(value)
    return wanted


def _parse_query(words: list[str]) -> list[tuple[str, str, str | None]]:
    """Validate and parse the query words once, so a bad query traps instead of matching nothing."""
    parsed: list[tuple[str, str, str | None]] = []
    for w in words:
        if not w.startswith("?"):
            continue
        if w.startswith("?#"):
            if not w[2:] or any(ch not in "|&!.0123456789" for ch in w[2:]):
                raise WireError(f"unknown query operation {w}")
            parsed.append(("#", w[2:], None))
        elif len(w) < 2:
            raise WireError("empty query word")
        else:
            parsed.append(_prop_word(w))
    return parsed


def _stack_operations(ops: str, stack: list[bool]) -> None:
    """``?#|&!.N``: or, and, not, duplicate the top, push the N-th from the top."""
    for ch in ops:
        if ch == "!":
            stack.append(not stack.pop() if stack else False)
        elif ch in "|&":
            b = stack.pop() if stack else True
            a = stack.pop() if stack else True
            stack.append((a or b) if ch == "|" else (a and b))
        elif ch == ".":
            stack.append(stack[-1] if stack else True)
        elif ch.isdigit():
            idx = int(ch)
            stack.append(stack[-1 - idx] if idx < len(stack) else True)


def _property_test(op: str, key: str, value: str | None, row: dict[str, str]) -> bool:
    if op == "-":
        return key not in row
    if op == "has":
        return key in row
    if op == "=":
        return row.get(key) == value
    if key not in row:
        return False
    c = _compare(row[key], value or "")
    return c < 0 if op == "<" else c > 0


def compile_query(words: list[str]) -> Callable[[dict[str, str]], bool]:
    """RouterOS query words → a predicate on a row (a stack machine; results on the stack are ANDed)."""
    parsed = _parse_query(words)
    fast = _or_of_equalities(parsed)
    if fast is not None:
        return lambda row: any(row.get(k) in values for k, values in fast.items())

    def predicate(row: dict[str, str]) -> bool:
        stack: list[bool] = []
        for op, key, value in parsed:
            if op == "#":
                _stack_operations(key, stack)
            else:
                stack.append(_property_test(op, key, value, row))
        return all(stack)

    return predicate
