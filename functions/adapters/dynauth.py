"""The one place that sends RFC 5176 Disconnect-Request and CoA-Request packets to a NAS.

Blocking (UDP socket with a timeout and retransmissions); the RADIUS service calls it from its
thread pool, the API and the cron functions call it directly. Requests carry a
Message-Authenticator and an Event-Timestamp; replies are accepted only if their Response
Authenticator (and Message-Authenticator, when present) verify with the NAS secret.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from pyrad.dictionary import Dictionary
from pyrad.packet import CoAACK, CoANAK, CoAPacket, DisconnectACK, DisconnectNAK, PacketError

from core.ids import epoch_seconds
from core.radius import DICTIONARY_PATH

DISCONNECT_REQUEST = 40
COA_REQUEST = 43
_ACKS = {DisconnectACK, CoAACK}
_NAKS = {DisconnectNAK, CoANAK}


class DynAuthOutcome(StrEnum):
    ACK = "ack"
    NAK = "nak"
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class DynAuthReply:
    outcome: DynAuthOutcome
    error_cause: int | None = None


class DynAuthSender(Protocol):
    def send(
        self, nas_ip: str, port: int, secret: bytes, code: int, attributes: Sequence[tuple[str, str | int]]
    ) -> DynAuthReply: ...


def _error_cause(reply: CoAPacket) -> int | None:
    try:
        values = reply.get("Error-Cause")
    except (KeyError, PacketError):
        return None
    if not values:
        return None
    value = values[0]
    if isinstance(value, int):
        return value
    encoded = reply.dict.attributes["Error-Cause"].values.GetForward(value)  # a named value: its 4 octets
    return int.from_bytes(encoded, "big")


class UdpDynAuthSender:
    def __init__(self, dictionary: Dictionary | None = None, timeout: float = 2.0, retries: int = 1) -> None:
        self._dict = dictionary or Dictionary(DICTIONARY_PATH)
        self._timeout = timeout
        self._retries = retries

    def send(
        self, nas_ip: str, port: int, secret: bytes, code: int, attributes: Sequence[tuple[str, str | int]]
    ) -> DynAuthReply:
        request = CoAPacket(code=code, secret=secret, dict=self._dict)
        for name, value in attributes:
            request.AddAttribute(name, value)
        request.AddAttribute("Event-Timestamp", int(epoch_seconds()))
        request.add_message_authenticator()
        raw = request.RequestPacket()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((nas_ip, port))
            for _ in range(1 + self._retries):
                sock.send(raw)
                deadline = time.monotonic() + self._timeout
                while (left := deadline - time.monotonic()) > 0:
                    sock.settimeout(left)
                    try:
                        data = sock.recv(4096)
                    except TimeoutError:
                        break
                    except OSError:
                        # ICMP port unreachable surfaces as ConnectionRefusedError: nobody listens
                        time.sleep(min(left, 0.2))
                        break
                    try:
                        reply = request.CreateReply(packet=data)
                    except PacketError:
                        continue
                    if not request.VerifyReply(reply, data):
                        continue
                    if reply.code in _ACKS:
                        return DynAuthReply(DynAuthOutcome.ACK)
                    if reply.code in _NAKS:
                        return DynAuthReply(DynAuthOutcome.NAK, _error_cause(reply))
        return DynAuthReply(DynAuthOutcome.TIMEOUT)
