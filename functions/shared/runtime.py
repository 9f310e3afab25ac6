"""The process-wide services every operation receives: settings, encryption, token signing, AWS
clients, the notifier. Built once by :mod:`composition` (the wiring the entry points call)."""

from __future__ import annotations

from dataclasses import dataclass

from shared.aws import AwsClients
from shared.crypto import SecretBox
from shared.notifier import Notifier
from shared.settings import Settings
from shared.tokens import TokenSigner


@dataclass
class Runtime:
    settings: Settings
    box: SecretBox
    signer: TokenSigner
    aws: AwsClients
    notifier: Notifier
