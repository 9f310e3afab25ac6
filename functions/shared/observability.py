"""One place for powertools Logger, Metrics and Tracer.

Logs are structured JSON with a correlation id; a filter removes any key that looks like a secret, masks
values shaped like a known secret (payment-provider keys, signed tokens, API keys) in every string of the
record — message, fields, nested values, exception text — and rewrites logged exceptions that quote their
input (pydantic validation errors) or hold such a value, so passwords and keys never reach the logs even
by mistake. Fields a log call passes whose names
Python's ``LogRecord`` reserves (``created``, ``name``, ``module``…) would make the call raise at the
levels where the record is built; :class:`ComponentLogger` renames them (``created`` → ``created_``)
so no log call can fail a request at any level.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.tracing.tracer import Tracer

SERVICE = "wispcloud"
NAMESPACE = "WispCloud"

_SECRET_MARKERS = ("password", "secret", "token", "key", "authorization", "otp", "code_plain")
# Secret values recognisable by their shape wherever a string holds them (a provider's error text, a
# message quoting a header). One pattern, so each string is scanned once; the lookahead lets the scan skip
# characters no secret starts with. ``keep``: the part left readable (an API key's id, the auth scheme).
_SECRET_VALUES = re.compile(
    r"(?=[srwATeBbk])(?:"
    r"\b[sr]k_(?:live|test)_[0-9A-Za-z]{8,}"  # Stripe secret and restricted keys
    r"|\bwhsec_[0-9A-Za-z+/=]{8,}"  # webhook signing secrets (Stripe's, and the product's own)
    r"|\b(?:APP_USR|TEST)-\d{6,}-[0-9A-Za-z-]{16,}"  # Mercado Pago access tokens
    r"|\beyJ[0-9A-Za-z_-]{8,}\.[0-9A-Za-z_-]{8,}(?:\.[0-9A-Za-z_-]*)?"  # JWTs and the product's signed tokens
    r"|(?P<keep>\bkey_[0-9a-f]{20}\.|\b[Bb]earer )[0-9A-Za-z._~+/-]{16,}=*"  # API key secrets, bearer tokens
    r")"
)
# Attribute names of every LogRecord plus the two the formatter adds: ``extra`` may not use them.
RESERVED_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def safe_fields(extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` with every reserved LogRecord name renamed (``created`` → ``created_``)."""
    if RESERVED_FIELDS.isdisjoint(extra):
        return extra
    out: dict[str, Any] = {}
    for key, value in extra.items():
        name = key
        while name in RESERVED_FIELDS or (name != key and name in extra):
            name += "_"
        out[name] = value
    return out


def _mask(match: re.Match[str]) -> str:
    return (match.group("keep") or "") + "***"


def _mask_secret_values(text: str) -> str:
    """``text`` with every value shaped like a known secret replaced by ``***``."""
    return _SECRET_VALUES.sub(_mask, text)


def _text(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return ""


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return _mask_secret_values(value)
    if isinstance(value, dict):
        return {
            k: ("***" if any(m in str(k).lower() for m in _SECRET_MARKERS) else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_redact(v) for v in value)
    if isinstance(value, BaseException):  # written out as its text
        text = _text(value)
        safe = _mask_secret_values(text)
        return safe if safe != text else value
    return value


class ValuesRemovedError(Exception):
    """A logged exception whose message was rewritten without the input or secret values it quoted."""


def _carries_input(exc: BaseException) -> bool:
    """Exceptions whose text quotes the data they were given (pydantic validation errors print each
    failing ``input_value``: a whole record, passwords included)."""
    return type(exc).__module__.startswith("pydantic") and callable(getattr(exc, "errors", None))


def _holds_secret(exc: BaseException) -> bool:
    return _SECRET_VALUES.search(_text(exc)) is not None


def _safe_message(exc: BaseException) -> str:
    if not _carries_input(exc):
        return _mask_secret_values(_text(exc))
    errors = exc.errors(include_input=False, include_url=False, include_context=False)  # type: ignore[attr-defined]
    parts = [
        f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']} [type={e['type']}]" for e in errors
    ]
    return f"{len(errors)} validation error(s) for {getattr(exc, 'title', '?')}: " + "; ".join(parts)


def _safe_exc_info(exc_info: Any) -> Any:
    """``exc_info`` as logged: when the exception (or one it was raised from) quotes its input or holds a
    secret value, one exception naming each of the chain with its message rewritten, on the original
    traceback."""
    if not isinstance(exc_info, tuple) or len(exc_info) != 3 or exc_info[1] is None:
        return exc_info
    chain: list[BaseException] = []
    exc: BaseException | None = exc_info[1]
    while exc is not None and all(exc is not seen for seen in chain):
        chain.append(exc)
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    if not any(_carries_input(e) or _holds_secret(e) for e in chain):
        return exc_info
    text = " <- ".join(f"{type(e).__module__}.{type(e).__qualname__}: {_safe_message(e)}" for e in chain)
    return (ValuesRemovedError, ValuesRemovedError(text), exc_info[2])


def _redact_message(record: logging.LogRecord) -> None:
    """Mask secret values in the message as it will be written (its arguments merged in)."""
    if isinstance(record.args, dict):  # named arguments: masked by name as fields are
        record.args = _redact(record.args)
    if isinstance(record.msg, dict):  # a structured message: its keys and values
        record.msg = _redact(record.msg)
        return
    if isinstance(record.msg, str) and not record.args:
        text = record.msg
    else:
        try:
            text = record.getMessage()
        except Exception:  # a malformed call: the handler reports it as logging always does
            return
    safe = _mask_secret_values(text)
    if safe != text:
        record.msg, record.args = safe, ()


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info:
            record.exc_info = _safe_exc_info(record.exc_info)
            record.exc_text = None
        _redact_message(record)
        for attr in list(vars(record)):
            if attr.startswith("_") or attr in RESERVED_FIELDS:  # the record's own attributes
                continue
            if any(m in attr.lower() for m in _SECRET_MARKERS):
                setattr(record, attr, "***")
            else:
                val = getattr(record, attr)
                if isinstance(val, str | dict | list | tuple | BaseException):
                    setattr(record, attr, _redact(val))
        return True


logger = Logger(service=SERVICE)
logger.addFilter(_RedactingFilter())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


class LazyTracer:
    """powertools' Tracer, built on first use: building it imports the X-Ray SDK (about a fifth of the
    API's cold start). Where tracing is disabled (``POWERTOOLS_TRACE_DISABLED``, outside Lambda) the
    SDK is never imported: ``capture_lambda_handler`` then calls the handler as it is."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._tracer: Tracer | None = None

    def get(self) -> Tracer:
        if self._tracer is None:
            self._tracer = Tracer(service=self.service)
        return self._tracer

    @staticmethod
    def disabled() -> bool:
        return bool(Tracer._is_tracer_disabled())

    def capture_lambda_handler(self, handler: Callable[..., Any]) -> Callable[..., Any]:
        traced: list[Callable[..., Any]] = []

        @functools.wraps(handler)
        def wrapper(event: Any, context: Any) -> Any:
            if self.disabled():
                return handler(event, context)
            if not traced:
                traced.append(self.get().capture_lambda_handler(handler))
            return traced[0](event, context)

        return wrapper

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


tracer = LazyTracer(SERVICE)


def set_log_level(level: str) -> None:
    """Apply the configured level (``WISP_LOG_LEVEL``); an unknown name keeps INFO, the cloud's level."""
    try:
        logger.setLevel(level.upper())
    except (ValueError, TypeError):
        logger.setLevel("INFO")
        logger.warning("unknown log level; using INFO", extra={"configured_level": level})


def set_correlation_id(value: str | None) -> None:
    logger.set_correlation_id(value)


class ComponentLogger:
    """The service logger with a ``component`` key (api, radius, provisioner, billing…) on every record.

    A thin wrapper rather than a powertools child logger: child loggers fail when a module is
    imported before the parent logger has its handler, which depends on import order.
    """

    def __init__(self, component: str) -> None:
        self.component = component

    def _log(self, level: str, msg: object, args: tuple[object, ...], kwargs: dict[str, Any]) -> None:
        extra = safe_fields(dict(kwargs.pop("extra", None) or {}))
        extra.setdefault("component", self.component)
        kwargs.setdefault("stacklevel", 4)  # the caller, not this wrapper
        getattr(logger, level)(msg, *args, extra=extra, **kwargs)

    def debug(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log("debug", msg, args, kwargs)

    def info(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log("info", msg, args, kwargs)

    def warning(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log("warning", msg, args, kwargs)

    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log("error", msg, args, kwargs)

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log("exception", msg, args, kwargs)

    def critical(self, msg: object, *args: object, **kwargs: Any) -> None:
        self._log("critical", msg, args, kwargs)


def get_logger(component: str) -> ComponentLogger:
    """The logger for one component of the system."""
    return ComponentLogger(component)
