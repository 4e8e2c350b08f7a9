#!/usr/bin/python3
"""Writes the seed corpora of the fuzz targets to tests/corpus/<target>/.

Real messages as psql, asyncpg, libpq and PostgreSQL 15 send them, a few
malformed ones, and config/API/token inputs. Re-run after changing it; the
files are checked in, so the fuzzers need no Python. (tests/corpus/classifier
is written by hand.)"""

import base64
import hashlib
import hmac
import struct
import sys
from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def msg(kind: bytes, body: bytes = b"") -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def cstr(s: str) -> bytes:
    return s.encode() + b"\0"


def startup(params: dict[str, str], version: int = 196608) -> bytes:
    body = struct.pack("!I", version) + b"".join(cstr(k) + cstr(v) for k, v in params.items()) + b"\0"
    return struct.pack("!I", len(body) + 4) + body


def write(target: str, files: dict[str, bytes | str]) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data.encode() if isinstance(data, str) else data)


def frontend() -> None:
    parse = msg(b"P", cstr("__asyncpg_stmt_1__") + cstr("SELECT $1::int, $2::text")
                + struct.pack("!HII", 2, 23, 25))
    bind = msg(b"B", cstr("") + cstr("__asyncpg_stmt_1__") + struct.pack("!HHH", 1, 1, 2)
               + struct.pack("!I", 4) + struct.pack("!i", 42) + struct.pack("!i", -1)
               + struct.pack("!HH", 1, 1))
    write("frontend", {
        "query.bin": msg(b"Q", cstr("SELECT 1")),
        "query_multi.bin": msg(b"Q", cstr("BEGIN; SELECT * FROM t; COMMIT")),
        "extended.bin": parse + bind + msg(b"D", b"P" + cstr("")) + msg(b"E", cstr("") + struct.pack("!i", 0))
                        + msg(b"S"),
        "describe_close.bin": msg(b"D", b"S" + cstr("s1")) + msg(b"C", b"S" + cstr("s1")) + msg(b"H"),
        "password.bin": msg(b"p", cstr("md5" + "0" * 32)),
        "sasl_initial.bin": msg(b"p", cstr("SCRAM-SHA-256") + struct.pack("!I", 32)
                                + b"n,,n=,r=rOprNGfwEbeRWgbNEkqO%hvY"),
        "sasl_response.bin": msg(b"p", b"c=biws,r=abc,p=" + b"A" * 44),
        "copy.bin": msg(b"d", b"1\tone\n") + msg(b"c") + msg(b"f", cstr("aborted")),
        "terminate.bin": msg(b"X"),
        "bad_type.bin": b"\x00\x00\x00\x08\x04\xd2\x16\x2f",
        "bad_length.bin": b"S\x00\x00\x00\x05\x00",
        "huge_length.bin": b"Q\x7f\xff\xff\xff",
    })


def backend() -> None:
    error = msg(b"E", b"SERROR\0VERROR\0C42501\0Mpermission denied for table t\0"
                      b"Dsome detail\0Hsome hint\0P8\0Fparse.c\0L42\0Rfn\0\0")
    write("backend", {
        "login_ok.bin": msg(b"R", struct.pack("!i", 0))
        + msg(b"S", cstr("server_version") + cstr("15.5"))
        + msg(b"S", cstr("client_encoding") + cstr("UTF8"))
        + msg(b"K", struct.pack("!I", 4242) + b"\x01\x02\x03\x04") + msg(b"Z", b"I"),
        "sasl.bin": msg(b"R", struct.pack("!i", 10) + cstr("SCRAM-SHA-256-PLUS") + cstr("SCRAM-SHA-256") + b"\0")
        + msg(b"R", struct.pack("!i", 11) + b"r=abc,s=c2FsdA==,i=4096")
        + msg(b"R", struct.pack("!i", 12) + b"v=" + b"A" * 44),
        "md5.bin": msg(b"R", struct.pack("!i", 5) + b"salt"),
        "query_result.bin": msg(b"T", struct.pack("!H", 1) + cstr("?column?") + struct.pack("!IhIhih", 0, 0, 23, 4, -1, 0))
        + msg(b"D", struct.pack("!HI", 1, 1) + b"1") + msg(b"C", cstr("SELECT 1")) + msg(b"Z", b"T"),
        "error.bin": error + msg(b"Z", b"E"),
        "notice.bin": msg(b"N", b"SWARNING\0VWARNING\0C01000\0Mhello\0\0"),
        "fatal.bin": msg(b"E", b"SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0"),
        "extended.bin": msg(b"1") + msg(b"2") + msg(b"n") + msg(b"I") + msg(b"3")
        + msg(b"t", struct.pack("!HI", 1, 23)) + msg(b"s"),
        "negotiate.bin": msg(b"v", struct.pack("!II", 0, 1) + cstr("_pq_.foo")),
        "copy.bin": msg(b"H", struct.pack("!bH", 0, 0)) + msg(b"d", b"x\n") + msg(b"c"),
        "notify.bin": msg(b"A", struct.pack("!I", 7) + cstr("chan") + cstr("payload")),
        "bad_rfq.bin": b"Z\x00\x00\x00\x06II",
    })


def startup_seeds() -> None:
    cancel = struct.pack("!III", 16, 80877102, 4242) + b"\x01\x02\x03\x04"
    write("startup", {
        "psql.bin": startup({"user": "acme", "database": "analytics", "application_name": "psql",
                             "client_encoding": "UTF8"}),
        "asyncpg.bin": startup({"user": "acme", "database": "analytics", "client_encoding": "utf-8"}),
        "jdbc.bin": startup({"user": "acme", "database": "analytics", "DateStyle": "ISO",
                             "extra_float_digits": "2", "TimeZone": "UTC"}),
        "options.bin": startup({"user": "acme", "options": "-c default_transaction_read_only=off"}),
        "protocol_3_2.bin": startup({"user": "acme"}, version=(3 << 16) | 2),
        "ssl_request.bin": struct.pack("!II", 8, 80877103),
        "gss_request.bin": struct.pack("!II", 8, 80877104),
        "cancel.bin": cancel,
        "cancel_long_key.bin": struct.pack("!III", 12 + 32, 80877102, 1) + bytes(range(32)),
        "protocol_2.bin": struct.pack("!II", 8, 2 << 16),
        "no_user.bin": startup({"database": "x"}),
        "duplicate.bin": startup({"user": "a"})[:-1] + cstr("user") + cstr("b") + b"\0",
        "huge.bin": struct.pack("!II", 0x7FFFFFFF, 196608),
    })


def scram_proof(password: str, salt: bytes, iterations: int, client_first_bare: str,
                server_first: str, client_final_without_proof: str) -> tuple[str, str]:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    auth = f"{client_first_bare},{server_first},{client_final_without_proof}".encode()
    proof = bytes(a ^ b for a, b in zip(client_key, hmac.new(stored_key, auth, "sha256").digest()))
    signature = hmac.new(server_key, auth, "sha256").digest()
    return base64.b64encode(proof).decode(), base64.b64encode(signature).decode()


def scram() -> None:
    proof = "p=" + "A" * 43 + "="
    write("scram_server", {
        "libpq.txt": "n,,n=,r=rOprNGfwEbeRWgbNEkqO\nc=biws,r=%R," + proof,
        "asyncpg.txt": "n,,n=acme,r=Zm9vYmFyYmF6cXV4\nc=biws,r=%R," + proof,
        "y_flag.txt": "y,,n=,r=abc\nc=eSws,r=%R," + proof,
        "channel_binding.txt": "p=tls-server-end-point,,n=,r=abc\nc=biws,r=%R," + proof,
        "authzid.txt": "n,a=admin,n=,r=abc\nc=biws,r=%R," + proof,
        "extension.txt": "n,,n=,r=abc,x=ext\nc=biws,r=%R,x=1," + proof,
        "wrong_nonce.txt": "n,,n=,r=abc\nc=biws,r=abcdef," + proof,
        "verifier.txt": "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$"
                        + base64.b64encode(b"k" * 32).decode() + ":" + base64.b64encode(b"s" * 32).decode(),
    })
    # RFC 7677's exchange for the password "pencil", with our fixed client
    # nonce standing where the RFC's is (%R).
    nonce = "fyko+d2lbbFgONRv9qkxdawL"
    server_first = f"r={nonce}3rfcNHYJY1ZVvWVs7j,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    _, signature = scram_proof("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096,
                               f"n=,r={nonce}", server_first,
                               f"c=biws,r={nonce}3rfcNHYJY1ZVvWVs7j")
    write("scram_client", {
        "rfc7677.txt": "r=%R3rfcNHYJY1ZVvWVs7j,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096\nv=" + signature,
        "postgres.txt": "r=%RZ2hpamtsbW5vcHFy,s=c2FsdHNhbHRzYWx0c2FsdA==,i=4096\nv=" + "A" * 43 + "=",
        "foreign_nonce.txt": "r=someoneelse,s=c2FsdA==,i=4096\nv=AAAA",
        "extra_attr.txt": "r=%Rx,s=c2FsdA==,i=4096,e=1\n",
        "server_error.txt": "r=%Rx,s=c2FsdA==,i=4096\ne=invalid-proof",
        "real_server.txt": "!v=AAAA",
    })


def config() -> None:
    example = (Path(__file__).resolve().parents[2] / "conf" / "pgwarden.example.toml").read_text()
    verifier = "SCRAM-SHA-256$4096:c2FsdHNhbHRzYWx0c2FsdA==$" + base64.b64encode(b"k" * 32).decode() \
               + ":" + base64.b64encode(b"s" * 32).decode()
    token = "gAAAAABl" + "A" * 120
    write("config", {
        "example.toml": example,
        "minimal.toml": "",
        "harness.toml": f"""[server]
listen = ["127.0.0.1:6432"]
workers = 2
shutdown_grace = 5

[pool]
min_size = 2
max_size = 5
acquire_timeout = 10

[limits]
queries_per_minute = 0

[log]
level = "info"

[catalog]
path = "/tmp/catalog.db"

[[users]]
name = "acme"
password = "{verifier}"

[[connections]]
user = "acme"
name = "analytics"
connection_string_encrypted = "{token}"
query_timeout = 1
queries_per_minute = 600
burst = 3
""",
        "bad_type.toml": "[pool]\nmin_size = \"two\"\n",
        "unknown_key.toml": "[server]\nlisten = [\"127.0.0.1:6432\"]\nworkerz = 2\n",
        "min_gt_max.toml": "[pool]\nmin_size = 20\nmax_size = 10\n",
        "ipv6.toml": "[server]\nlisten = [\"[::1]:6432\", \"localhost:7000\"]\n[admin]\nlisten = \"unix:/run/pgwarden/admin.sock\"\n",
        "syntax.toml": "[server\nlisten = \n",
        "durations.toml": "[pool]\nquery_timeout = 2.5\nserver_lifetime = 0\n[limits]\nburst = 1e9\nallow_functions = [\"f\", \"g\"]\n",
        # toml++ 3.3.0's undefined behaviour (tomlplusplus#295), which the
        # loader's own screen now refuses first: the second one CI found, the
        # third the first version of the screen let through.
        "toml295-u00e9": "[server]\nworkers = 2\u00e9\n",
        "toml295-u2eff": "\u2eff",
        "toml295-malformed-value": "# c\nlevl =0\"\"\"\u00e9\"\"b\"\"\n",
        "non_ascii_in_strings.toml": "# caf\u00e9\n[log]\nlevel = \"\"\"\u00e9\"\"\"\"\"\n",
    })


def admin() -> None:
    conn = ('{"user": "acme", "name": "analytics", "host": "db.example.com", "port": 5432, '
            '"database": "analytics", "username": "analyst", "password": "s3cret-p@ss/word", '
            '"ssl_mode": "require"}')
    write("admin", {
        "create_connection.txt": f"/api/connections\nBearer 0123456789abcdef0123\n{conn}",
        "ipv6.txt": '/api/connections\nBearer x\n{"user": "a", "name": "b", "host": "::1", '
                    '"database": "d", "username": "u", "password": "p%20w"}',
        "list.txt": "/api/connections?offset=10&limit=20\nbearer   tok   \n",
        "user.txt": '/api/users/a%20b\nBearer t\n{"name": "acme", "password": "correct horse"}',
        "bad_escape.txt": "/api/users/%zz?x=%2\nBasic abc\n{",
        "plus.txt": "/api/pools?name=a+b&limit=0\n\n[]",
        "unknown_field.txt": '/api/connections\nBearer t\n{"sslmode": "disable", "password": "hunter2hunter2"}',
        "nested.txt": "/\nBearer t\n" + "[" * 40 + "]" * 40,
        "bad_port.txt": '/api/connections/1/test\nBearer t\n{"user": "a", "name": "b", "host": "h", '
                        '"database": "d", "username": "u", "port": 70000}',
    })


def fernet() -> None:
    # Tokens under the target's first key (bytes 0..31), made as Python's
    # cryptography does: version 0x80, time, IV, AES-128-CBC, HMAC-SHA256.
    from cryptography.hazmat.primitives import padding
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    key = bytes(range(32))
    signing, encryption = key[:16], key[16:]

    def token(plain: bytes, stamp: int, iv: bytes) -> str:
        padder = padding.PKCS7(128).padder()
        data = padder.update(plain) + padder.finalize()
        enc = Cipher(algorithms.AES(encryption), modes.CBC(iv)).encryptor()
        body = b"\x80" + struct.pack("!Q", stamp) + iv + enc.update(data) + enc.finalize()
        return base64.urlsafe_b64encode(body + hmac.new(signing, body, "sha256").digest()).decode()

    write("fernet", {
        "uri.txt": token(b"postgresql://analyst:pw@127.0.0.1:5432/analytics?sslmode=prefer",
                         1_700_000_000, bytes(16)),
        "empty.txt": token(b"", 1_700_000_000, bytes(range(16))),
        "future.txt": token(b"x", 1_700_000_000 + 3600, bytes(16)),
        "keys.txt": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=, ZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXp7fH1-f4CBgoM=",
        "bad_key.txt": "not-a-key,AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        "plain.txt": "host=db user=u password=secret",
        "unpadded.txt": token(b"abc", 1, bytes(16)).rstrip("="),
    })


def main() -> int:
    frontend()
    backend()
    startup_seeds()
    scram()
    config()
    admin()
    fernet()
    return 0


if __name__ == "__main__":
    sys.exit(main())
