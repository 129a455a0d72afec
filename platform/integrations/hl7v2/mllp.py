"""MLLP (the HL7 v2 Minimal Lower Layer Protocol): send one message over TCP and read the ACK.

A frame is <VT> message <FS><CR> (0x0b ... 0x1c 0x0d). The ACK's MSA segment says what the receiver did:
AA/CA accepted, AE/CE application error, AR/CR rejected.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass

from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.parser import parse_message

START, END = b"\x0b", b"\x1c\x0d"
_MAX_ACK_BYTES = 1024 * 1024


class MllpUnavailable(Exception):
    """The receiver could not be reached, or did not answer in time (transient: retried)."""


class MalformedAck(Exception):
    """The receiver answered something that is not an HL7 ACK for our message."""


@dataclass(frozen=True)
class Ack:
    code: str  # MSA-1: AA, AE, AR (original mode) or CA, CE, CR (enhanced mode)
    control_id: str  # MSA-2: the MSH-10 of the message acknowledged
    text: str  # MSA-3

    @property
    def accepted(self) -> bool:
        return self.code in {"AA", "CA"}


def frame(message: str) -> bytes:
    return START + message.encode("utf-8") + END


def read_frame(sock: socket.socket) -> bytes:
    """One MLLP frame's content from `sock` (blocking, bounded). Raises MllpUnavailable if the peer closes."""
    data = b""
    while END not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise MllpUnavailable("the receiver closed the connection before a complete frame")
        data += chunk
        if len(data) > _MAX_ACK_BYTES:
            raise MalformedAck("the frame is larger than any ACK")
    start = data.find(START)
    return data[start + 1 if start >= 0 else 0:data.find(END)]


def parse_ack(raw: bytes) -> Ack:
    """MSA-1/2/3 of an ACK. Raises MalformedAck when it is not one."""
    text = raw.decode("utf-8", errors="replace").replace("\r\n", "\r").replace("\n", "\r").strip()
    try:
        ack = parse_message(text, validation_level=VALIDATION_LEVEL.TOLERANT)
        msa = ack.msa
        return Ack(code=msa.msa_1.value.strip().upper(), control_id=msa.msa_2.value.strip(),
                   text=(msa.msa_3.value if msa.msa_3 else "").strip())
    except Exception as exc:  # noqa: BLE001 - whatever the receiver sent, it is not an ACK we can read
        raise MalformedAck(f"the answer is not an HL7 ACK ({type(exc).__name__})") from None


def send(*, host: str, port: int, message: str, timeout_s: float) -> Ack:
    """Send `message` and return the receiver's ACK. Raises MllpUnavailable or MalformedAck."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            sock.settimeout(timeout_s)
            sock.sendall(frame(message))
            return parse_ack(read_frame(sock))
    except (OSError, socket.timeout) as exc:
        raise MllpUnavailable(f"{type(exc).__name__} talking to the HL7 receiver") from None
