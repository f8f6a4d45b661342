"""A real SMTP server on loopback for the email tests (aiosmtpd), recording what it accepts.

``refuse`` addresses get 550 at RCPT; the messages numbered in ``fail_data`` (1-based, counting DATA
commands) get 421 and the connection is closed, as a server going down mid-run would.
"""
from __future__ import annotations

import socket
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes


@dataclass
class RecordingHandler:
    refuse: set[str] = field(default_factory=set)
    fail_data: set[int] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    data_count: int = 0
    delay: float = 0.0  # seconds each DATA takes, like a slow server (lets two senders overlap)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        self.data_count += 1
        if self.data_count in self.fail_data:
            server.transport.close()
            return "421 4.3.2 service shutting down"
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def smtp_server(refuse: set[str] = frozenset(), fail_data: set[int] = frozenset(),
                delay: float = 0.0) -> Iterator[tuple[int, RecordingHandler]]:
    """Run a recording SMTP server on 127.0.0.1; yields (port, handler)."""
    from aiosmtpd.controller import Controller

    handler = RecordingHandler(refuse={a.lower() for a in refuse}, fail_data=set(fail_data), delay=delay)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port, handler
    finally:
        controller.stop()
