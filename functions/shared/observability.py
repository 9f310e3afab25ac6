"""One place for powertools Logger, Metrics and Tracer.

Logs are structured JSON with a correlation id; a filter removes any key that looks like a secret
so passwords and keys never reach the logs even by mistake.
"""

from __future__ import annotations

import logging
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

SERVICE = "wispcloud"
NAMESPACE = "WispCloud"

_SECRET_MARKERS = ("password", "secret", "token", "key", "authorization", "otp", "code_plain")


def _redact(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: ("***" if any(m in str(k).lower() for m in _SECRET_MARKERS) else _redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for attr in list(vars(record)):
            if attr.startswith("_") or attr in logging.LogRecord.__dict__:
                continue
            if any(m in attr.lower() for m in _SECRET_MARKERS):
                setattr(record, attr, "***")
            else:
                val = getattr(record, attr)
                if isinstance(val, dict | list):
                    setattr(record, attr, _redact(val))
        return True


logger = Logger(service=SERVICE)
logger.addFilter(_RedactingFilter())
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)
tracer = Tracer(service=SERVICE)


def set_correlation_id(value: str | None) -> None:
    logger.set_correlation_id(value)


def get_logger(component: str) -> Logger:
    """A child logger tagged with the component name (api, radius, provisioner, billing)."""
    child = Logger(service=SERVICE, child=True)
    child.append_keys(component=component)
    return child
