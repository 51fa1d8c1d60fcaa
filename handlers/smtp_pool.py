"""Connections to the SMTP relay kept open between mails.

A burst of pages by e-mail used to open one session each (TCP, TLS, EHLO, AUTH, QUIT) and look up
the machine's name for the EHLO every time; the relay now sees a few long sessions instead.
"""

from __future__ import annotations

import asyncio
import socket
import time
from dataclasses import dataclass

import aiosmtplib
import structlog

from bot.config import EmailConfig

log = structlog.get_logger("vigie.smtp")

# A relay drops an idle session after a minute or more (Postfix: 300 s); ours is closed sooner.
IDLE_SECONDS = 30.0
# What a reused session can fail with when the relay closed it meanwhile: nothing was sent yet.
STALE_ERRORS = (aiosmtplib.SMTPServerDisconnected, ConnectionError)


@dataclass
class _Idle:
    smtp: aiosmtplib.SMTP
    since: float


class SmtpPool:
    def __init__(self, cfg: EmailConfig, username: str | None, password: str | None, size: int = 4) -> None:
        self.cfg, self.username, self.password = cfg, username, password
        self._slots = asyncio.Semaphore(size)  # sessions open at once, at most
        self._idle: list[_Idle] = []
        self._hostname: str | None = cfg.helo_hostname

    async def _local_hostname(self) -> str:
        if self._hostname is None:  # looked up once, not for every mail (a DNS query each)
            self._hostname = await asyncio.to_thread(socket.getfqdn)
        return self._hostname

    async def _connect(self, wait: float = 30) -> aiosmtplib.SMTP:
        smtp = aiosmtplib.SMTP(
            hostname=self.cfg.smtp_host,
            port=self.cfg.smtp_port,
            start_tls=self.cfg.security == "starttls",
            use_tls=self.cfg.security == "tls",
            local_hostname=await self._local_hostname(),
            timeout=wait,  # each command, not the whole session
        )
        try:
            await smtp.connect()
            if self.username and self.password:
                await smtp.login(self.username, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    async def open(self) -> None:
        """One session now (the relay answers, the credentials are accepted), kept for the first mail."""
        async with self._slots:
            self._keep(await self._connect(wait=10))  # at start: a dead relay must not hold it long

    def _keep(self, smtp: aiosmtplib.SMTP) -> None:
        self._idle.append(_Idle(smtp, time.monotonic()))

    def _take_idle(self) -> aiosmtplib.SMTP | None:
        now = time.monotonic()
        while self._idle:
            idle = self._idle.pop()  # the most recently used: the likeliest to be alive
            if idle.smtp.is_connected and now - idle.since < IDLE_SECONDS:
                return idle.smtp
            idle.smtp.close()
        return None

    async def _send_on(self, smtp: aiosmtplib.SMTP, mail: bytes, sender: str, recipients: list[str]) -> None:
        try:
            await smtp.sendmail(sender, recipients, mail)
        except BaseException:
            smtp.close()  # its state is unknown: never reused
            raise
        self._keep(smtp)

    async def send(self, mail: bytes, sender: str, recipients: list[str]) -> None:
        """Hand one mail to the relay; raises aiosmtplib's errors as they come."""
        async with self._slots:
            smtp = self._take_idle()
            if smtp is not None:
                try:
                    await self._send_on(smtp, mail, sender, recipients)
                    return
                except STALE_ERRORS:  # closed by the relay while idle: MAIL FROM never got through
                    log.info("smtp_session_stale")
            await self._send_on(await self._connect(), mail, sender, recipients)

    async def close(self) -> None:
        while self._idle:
            smtp = self._idle.pop().smtp
            try:
                await asyncio.wait_for(smtp.quit(), 2)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                smtp.close()
