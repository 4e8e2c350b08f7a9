"""A minimal PostgreSQL v3 client on a raw socket, for tests that must send what
real drivers never send (bad lengths, protocol 3.2, stray request codes) and
see exactly which bytes come back. SCRAM-SHA-256, md5 and cleartext login.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import socket
import struct
import time

PROTOCOL_3_0 = 196608
PROTOCOL_3_2 = (3 << 16) | 2
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102


class Closed(Exception):
    """The peer closed (FIN or RST) before the expected bytes arrived."""


def startup_packet(params: dict[str, str], version: int = PROTOCOL_3_0) -> bytes:
    body = struct.pack("!i", version)
    for k, v in params.items():
        body += k.encode() + b"\0" + v.encode() + b"\0"
    body += b"\0"
    return struct.pack("!i", len(body) + 4) + body


def message(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!i", len(body) + 4) + body


def cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def parse_fields(body: bytes) -> dict[str, str]:
    """ErrorResponse / NoticeResponse body -> {'S': 'FATAL', 'C': '28P01', ...}."""
    fields = {}
    i = 0
    while i < len(body) and body[i] != 0:
        code = chr(body[i])
        end = body.index(b"\0", i + 1)
        fields[code] = body[i + 1:end].decode(errors="replace")
        i = end + 1
    return fields


class ServerError(Exception):
    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__(f"{fields.get('S')} {fields.get('C')}: {fields.get('M')}")
        self.fields = fields


class RawConnection:
    def __init__(self, host: str, port: int, timeout: float = 10) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.params: dict[str, str] = {}
        self.backend_key: bytes | None = None
        self.negotiate: tuple[int, list[str]] | None = None  # from 'v'
        self.notices: list[dict[str, str]] = []
        self.startup_trace: list[bytes] = []  # message types seen during startup

    def close(self) -> None:
        self.sock.close()

    def reset(self) -> None:
        """Close with RST instead of FIN (SO_LINGER 0): an abrupt client death."""
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()

    def __enter__(self) -> "RawConnection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        try:
            chunk = self.sock.recv(65536)
        except ConnectionResetError as e:
            raise Closed("connection reset") from e
        if not chunk:
            raise Closed("connection closed")
        self.buf += chunk

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_message(self) -> tuple[bytes, bytes]:
        header = self.read_exact(5)
        kind, length = header[:1], struct.unpack("!i", header[1:])[0]
        if length < 4:
            raise ValueError(f"server sent message {kind!r} with length {length}")
        return kind, self.read_exact(length - 4)

    def read_until_closed(self, timeout: float) -> bytes:
        """Everything the server sends until it closes; TimeoutError if it
        keeps the connection open past timeout."""
        deadline = time.monotonic() + timeout
        data, self.buf = self.buf, b""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"server kept the connection open for {timeout}s; sent {data!r}")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return data
            except socket.timeout:
                continue
            if not chunk:
                return data
            data += chunk

    # startup
    def request_encryption(self, code: int) -> bytes:
        """SSLRequest / GSSENCRequest; returns the single answer byte."""
        self.send(struct.pack("!ii", 8, code))
        return self.read_exact(1)

    def startup(self, user: str, database: str, password: str | None,
                version: int = PROTOCOL_3_0, extra: dict[str, str] | None = None) -> None:
        """Sends the StartupMessage and authenticates; returns at ReadyForQuery.
        Raises ServerError with the server's fields on an ErrorResponse."""
        params = {"user": user, "database": database, **(extra or {})}
        self.send(startup_packet(params, version))
        scram: _ScramClient | None = None
        while True:
            kind, body = self.read_message()
            self.startup_trace.append(kind)
            if kind == b"E":
                raise ServerError(parse_fields(body))
            if kind == b"N":
                self.notices.append(parse_fields(body))
            elif kind == b"v":
                newest, count = struct.unpack("!ii", body[:8])
                names = [n.decode() for n in body[8:].split(b"\0")[:count]]
                self.negotiate = (newest, names)
            elif kind == b"R":
                code = struct.unpack("!i", body[:4])[0]
                if code == 0:
                    continue
                if password is None:
                    raise ValueError("server asked for a password")
                if code == 3:
                    self.send(message(b"p", cstr(password)))
                elif code == 5:
                    inner = hashlib.md5((password + user).encode()).hexdigest()
                    outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
                    self.send(message(b"p", cstr("md5" + outer)))
                elif code == 10:
                    mechanisms = body[4:].split(b"\0")
                    if b"SCRAM-SHA-256" not in mechanisms:
                        raise ValueError(f"no SCRAM-SHA-256 in {mechanisms!r}")
                    scram = _ScramClient(password)
                    first = scram.client_first().encode()
                    self.send(message(b"p", cstr("SCRAM-SHA-256") + struct.pack("!i", len(first))
                                      + first))
                elif code == 11:
                    self.send(message(b"p", scram.client_final(body[4:].decode()).encode()))
                elif code == 12:
                    scram.verify_server_final(body[4:].decode())
                else:
                    raise ValueError(f"unsupported authentication request {code}")
            elif kind == b"S":
                name, value = body.split(b"\0")[:2]
                self.params[name.decode()] = value.decode()
            elif kind == b"K":
                self.backend_key = body
            elif kind == b"Z":
                return
            else:
                raise ValueError(f"unexpected message {kind!r} during startup")

    # queries
    def query(self, sql: str) -> tuple[list[list[str | None]], bytes]:
        """Simple query: (rows of the last result, transaction status). Raises
        ServerError after reading up to ReadyForQuery."""
        self.send(message(b"Q", cstr(sql)))
        return self.read_results()

    def read_results(self) -> tuple[list[list[str | None]], bytes]:
        rows: list[list[str | None]] = []
        error = None
        while True:
            try:
                kind, body = self.read_message()
            except Closed:
                # A FATAL error ends the session: no ReadyForQuery follows.
                if error and error.get("S") == "FATAL":
                    raise ServerError(error) from None
                raise
            if kind == b"T":
                rows = []
            elif kind == b"D":
                rows.append(data_row(body))
            elif kind == b"E":
                error = parse_fields(body)
            elif kind == b"N":
                self.notices.append(parse_fields(body))
            elif kind == b"S":
                name, value = body.split(b"\0")[:2]
                self.params[name.decode()] = value.decode()
            elif kind == b"Z":
                if error:
                    raise ServerError(error)
                return rows, body
            # C, I, 1, 2, 3, n, t, s: nothing to keep


def read_until_ready(conn: RawConnection) -> list[tuple[bytes, bytes]]:
    """Messages up to and including ReadyForQuery (bounded by the socket timeout)."""
    out = []
    while True:
        kind, body = conn.read_message()
        out.append((kind, body))
        if kind == b"Z":
            return out


def split_messages(data: bytes) -> list[tuple[bytes, bytes]]:
    """Backend messages in a byte string (a trailing partial message is dropped)."""
    out = []
    while len(data) >= 5:
        length = struct.unpack("!i", data[1:5])[0]
        if length < 4 or len(data) < 1 + length:
            break
        out.append((data[:1], data[5:1 + length]))
        data = data[1 + length:]
    return out


def data_row(body: bytes) -> list[str | None]:
    n = struct.unpack("!h", body[:2])[0]
    i = 2
    out: list[str | None] = []
    for _ in range(n):
        length = struct.unpack("!i", body[i:i + 4])[0]
        i += 4
        if length < 0:
            out.append(None)
        else:
            out.append(body[i:i + length].decode())
            i += length
    return out


@functools.lru_cache(maxsize=64)
def _salted_password(password: bytes, salt: bytes, iterations: int) -> bytes:
    """Hi() of RFC 5802; cached because a verifier's salt never changes and
    bench/run logs in 10,000 idle clients with one password."""
    return hashlib.pbkdf2_hmac("sha256", password, salt, iterations)


class _ScramClient:
    """RFC 5802 / 7677 client side; ASCII passwords only (no SASLprep)."""

    def __init__(self, password: str) -> None:
        self.password = password.encode()
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = f"n=,r={self.nonce}"
        self.server_signature = b""

    def client_first(self) -> str:
        return "n,," + self.first_bare

    def client_final(self, server_first: str) -> str:
        attrs = dict(item.split("=", 1) for item in server_first.split(","))
        if not attrs["r"].startswith(self.nonce):
            raise ValueError("server nonce does not extend ours")
        salted = _salted_password(self.password, base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c=biws,r={attrs['r']}"
        auth_message = f"{self.first_bare},{server_first},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self.server_signature = hmac.digest(server_key, auth_message, "sha256")
        return f"{without_proof},p={base64.b64encode(proof).decode()}"

    def verify_server_final(self, server_final: str) -> None:
        attrs = dict(item.split("=", 1) for item in server_final.split(","))
        if "e" in attrs:
            raise ValueError(f"server-final error {attrs['e']}")
        if not hmac.compare_digest(base64.b64decode(attrs["v"]), self.server_signature):
            raise ValueError("server signature does not verify: not the server we configured")


def scram_verifier_matches(verifier: str, password: str) -> bool:
    """Does a SCRAM-SHA-256$iter:salt$StoredKey:ServerKey verifier belong to password?"""
    method, rest = verifier.split("$", 1)
    iter_salt, keys = rest.split("$", 1)
    iterations, salt = iter_salt.split(":", 1)
    stored_b64, server_b64 = keys.split(":", 1)
    if method != "SCRAM-SHA-256":
        return False
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt),
                                 int(iterations))
    stored = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server = hmac.digest(salted, b"Server Key", "sha256")
    return (hmac.compare_digest(stored, base64.b64decode(stored_b64))
            and hmac.compare_digest(server, base64.b64decode(server_b64)))
