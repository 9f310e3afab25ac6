"""The process-wide wiring: settings, encryption, token signing, AWS clients, store binding.

Entry points call :func:`get_runtime` once; tests and the local stack call :func:`init_runtime` with
their own settings first. Only entry points (and tools) import this module: the layers below receive
the :class:`~shared.runtime.Runtime` as an argument.
"""

from __future__ import annotations

import threading

from shared.aws import AwsClients
from shared.crypto import FileKeyProvider, KeyProvider, KmsKeyProvider, SecretBox
from shared.notifier import Notifier
from shared.observability import set_log_level
from shared.runtime import Runtime
from shared.settings import Settings, SettingsError, get_settings, set_settings
from shared.tokens import TokenSigner
from store import db


def _key_provider(settings: Settings, aws: AwsClients) -> KeyProvider:
    if settings.kms_key_id and settings.data_key_parameter:
        return KmsKeyProvider(
            aws.client("kms"), aws.client("ssm"), settings.kms_key_id, settings.data_key_parameter
        )
    if settings.data_key_file:
        return FileKeyProvider(settings.data_key_file)
    raise SettingsError(
        "no encryption key configured: set WISP_DATA_KEY_FILE (local) or WISP_KMS_KEY_ID and "
        "WISP_DATA_KEY_PARAMETER (cloud)"
    )


_runtime: Runtime | None = None
_lock = threading.Lock()


def init_runtime(settings: Settings, key_provider: KeyProvider | None = None) -> Runtime:
    global _runtime
    set_settings(settings)
    set_log_level(settings.log_level)
    db.configure(settings)
    aws = AwsClients(settings)
    box = SecretBox(key_provider or _key_provider(settings, aws))
    _runtime = Runtime(
        settings=settings,
        box=box,
        signer=TokenSigner(box),
        aws=aws,
        notifier=Notifier(aws, settings.email_sender, settings.sms_sender_id),
    )
    return _runtime


def get_runtime() -> Runtime:
    if _runtime is None:
        with _lock:
            if _runtime is None:
                return init_runtime(get_settings())
    assert _runtime is not None
    return _runtime
