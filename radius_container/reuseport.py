"""Sharing one UDP port between worker processes (Linux ``SO_REUSEPORT``) and steering packets.

Every worker binds its own socket to the port. By default the kernel picks a socket by a hash of
the source and destination addresses, which sends all the packets of one NAS to one worker. A
classic BPF program attached to the port group picks the worker by the RADIUS packet identifier
instead: the requests of one NAS are spread over all workers, and a retransmission (same
identifier) reaches the worker that saw the original, so each worker's duplicate cache stays
correct. When the group changes (a worker stopped or restarted) the kernel falls back to its hash
until the group is whole again.
"""

from __future__ import annotations

import ctypes
import socket
import struct

SO_ATTACH_REUSEPORT_CBPF = 51  # <asm-generic/socket.h>

# struct sock_filter {u16 code; u8 jt; u8 jf; u32 k}
_LD_B_ABS = 0x30  # BPF_LD | BPF_B | BPF_ABS: A = payload[k] (UDP payload: the kernel pulls the header)
_MOD_K = 0x94  # BPF_ALU | BPF_MOD | BPF_K: A %= k
_RET_A = 0x16  # BPF_RET | BPF_A: the index of the socket in the group


def reuse_port_supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def steer_by_identifier(sock: socket.socket, workers: int) -> bool:
    """Attach the "identifier modulo ``workers``" program to the socket's port group.

    Returns False where the kernel refuses it (not Linux, old kernel): the kernel hash then spreads
    NASes (not packets) over the workers, which is correct but less even.
    """
    if workers < 2:
        return False
    program = b"".join(
        struct.pack("HBBI", code, 0, 0, k) for code, k in ((_LD_B_ABS, 1), (_MOD_K, workers), (_RET_A, 0))
    )
    buffer = ctypes.create_string_buffer(program)
    fprog = struct.pack("HL", len(program) // 8, ctypes.addressof(buffer))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)
    except OSError:
        return False
    return True


def reserve(bind: str, port: int) -> socket.socket:
    """A UDP socket in the port group of ``bind:port`` (port 0: a free port), to learn and hold it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((bind, port))
    except OSError:
        sock.close()
        raise
    return sock
