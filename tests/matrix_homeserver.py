"""A real Matrix homeserver for the tests: Synapse (from PyPI, the test extra), SQLite, loopback
only, no federation, registration by shared secret. Started once per test session; users are
registered with the admin API, as a desk's own homeserver administrator would."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SERVER_NAME = "vigie.test"
SHARED_SECRET = "vigie-test-registration-secret"

# Rate limits off: the tests send bursts a real desk would spread over minutes.
_UNLIMITED = {"per_second": 10000, "burst_count": 10000}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def homeserver_config(root: Path, port: int) -> dict[str, Any]:
    return {
        "server_name": SERVER_NAME,
        "pid_file": str(root / "homeserver.pid"),
        "listeners": [
            {
                "port": port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }
        ],
        "database": {"name": "sqlite3", "args": {"database": str(root / "homeserver.db")}},
        "log_config": str(root / "log.config"),
        "media_store_path": str(root / "media"),
        "signing_key_path": str(root / "signing.key"),
        "registration_shared_secret": SHARED_SECRET,
        "macaroon_secret_key": "vigie-test-macaroon",
        "form_secret": "vigie-test-form",
        "report_stats": False,
        "enable_metrics": False,
        "trusted_key_servers": [],
        "suppress_key_server_warning": True,
        "federation_domain_whitelist": [],
        "send_federation": False,
        "url_preview_enabled": False,
        "presence": {"enabled": False},
        # A restart test must resume from the stored token, not from a cached answer.
        "sync_response_cache_duration": 0,
        "rc_message": _UNLIMITED,
        "rc_registration": _UNLIMITED,
        "rc_login": {"address": _UNLIMITED, "account": _UNLIMITED, "failed_attempts": _UNLIMITED},
        "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
        "rc_invites": {"per_room": _UNLIMITED, "per_user": _UNLIMITED, "per_issuer": _UNLIMITED},
        "rc_admin_redaction": _UNLIMITED,
        "rc_key_requests": _UNLIMITED,
        "rc_3pid_validation": _UNLIMITED,
        "rc_room_creation": _UNLIMITED,
        "rc_presence": {"per_user": _UNLIMITED},
        "rc_delayed_event_mgmt": _UNLIMITED,
    }


LOG_CONFIG = """version: 1
formatters:
  precise: {format: '%(asctime)s %(levelname)s %(name)s %(message)s'}
handlers:
  file: {class: logging.FileHandler, formatter: precise, filename: LOGFILE}
root: {level: WARNING, handlers: [file]}
disable_existing_loggers: false
"""


@dataclass
class MatrixUser:
    user_id: str
    access_token: str
    device_id: str


class Homeserver:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait: float = 60.0) -> None:
        import yaml

        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "log.config").write_text(
            LOG_CONFIG.replace("LOGFILE", str(self.root / "homeserver.log"))
        )
        config = self.root / "homeserver.yaml"
        config.write_text(yaml.safe_dump(homeserver_config(self.root, self.port)))
        command = [sys.executable, "-m", "synapse.app.homeserver", "--config-path", str(config)]
        subprocess.run([*command, "--generate-keys"], check=True, capture_output=True)
        out = (self.root / "stdout.log").open("wb")
        self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=self.root)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Synapse exited: {(self.root / 'stdout.log').read_text()[-2000:]}")
            try:
                self._get("/_matrix/client/versions")
                return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        raise RuntimeError("Synapse did not answer in time")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None, token: str = "") -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as answer:
            return json.loads(answer.read() or b"{}")

    def _get(self, path: str) -> Any:
        return self._request("GET", path)

    def register(self, localpart: str, *, admin: bool = False) -> MatrixUser:
        """Register with the shared secret (Synapse's admin API), as ``register_new_matrix_user``."""
        nonce = self._get("/_synapse/admin/v1/register")["nonce"]
        password = f"pw-{localpart}"
        answer = self._request(
            "POST",
            "/_synapse/admin/v1/register",
            {
                "nonce": nonce,
                "username": localpart,
                "password": password,
                "admin": admin,
                "mac": _mac(nonce, localpart, password, admin),
            },
        )
        return MatrixUser(answer["user_id"], answer["access_token"], answer["device_id"])

    def login(self, localpart: str, device_id: str) -> MatrixUser:
        """A new session (access token) on a device of one's choosing."""
        answer = self._request(
            "POST",
            "/_matrix/client/v3/login",
            {
                "type": "m.login.password",
                "identifier": {"type": "m.id.user", "user": localpart},
                "password": f"pw-{localpart}",
                "device_id": device_id,
            },
        )
        return MatrixUser(answer["user_id"], answer["access_token"], answer["device_id"])


def _mac(nonce: str, user: str, password: str, admin: bool) -> str:
    """The HMAC-SHA1 Synapse expects: the fields joined by NUL bytes."""
    parts = (nonce, user, password, "admin" if admin else "notadmin")
    return hmac.new(SHARED_SECRET.encode(), "\x00".join(parts).encode(), hashlib.sha1).hexdigest()


if __name__ == "__main__":  # python tests/matrix_homeserver.py: a homeserver to try things on
    server = Homeserver(Path(os.environ.get("VIGIE_HS_DIR", "/tmp/vigie-hs")))
    started = time.monotonic()
    server.start()
    print(f"Synapse on {server.url} in {time.monotonic() - started:.1f} s")
    print(server.register("vigie"))
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
