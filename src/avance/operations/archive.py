"""The backup file: an encrypted, authenticated stream holding a tar archive.

Layout (format 1)::

    b"AVANCE-BACKUP\\n"                 magic, 14 bytes
    4 bytes, big-endian                 length of the header
    header                              JSON, UTF-8 (below)
    frames                              4-byte big-endian length, then that many bytes; repeated

The header::

    {"format": 1, "cipher": "aes-256-gcm-stream" | "none", "chunk_size": 1048576,
     "kdf": {"name": "scrypt", "salt": "<base64, 16 bytes>", "n": 131072, "r": 8, "p": 1},
     "nonce_prefix": "<base64, 7 bytes>", "check": "<base64, 16 bytes>"}

With ``aes-256-gcm-stream`` the passphrase gives 64 bytes through scrypt (``salt``, ``n``, ``r``,
``p``): the first 32 are the AES-256-GCM key, the last 32 the key of ``check`` (HMAC-SHA-256 of
``avance-backup-check``, first 16 bytes), which tells a wrong passphrase from a damaged file. The
plain stream is cut in chunks of ``chunk_size`` bytes (the last one shorter, possibly empty), each
sealed as one frame with the nonce ``nonce_prefix || counter (4 bytes) || last (1 byte)`` and the
whole header (magic included) as associated data: the STREAM construction (Hoang, Reyhanitabar,
Rogaway, Vizár, 2015). A changed header, a changed, reordered, removed or added frame, or a file
cut short, fails to decrypt. With ``none`` (``--unencrypted``) the frames hold the plain chunks;
the members' digests in the manifest still reveal a damaged file.

The plain stream is a POSIX tar archive (PAX) read and written as a stream, so that neither side
holds a large database dump in memory. Its first member is ``manifest.json`` (``avance.operations.
backup`` says what it lists); the other members are regular files only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import struct
from dataclasses import dataclass
from typing import Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from avance.kit.errors import AvanceError

MAGIC = b"AVANCE-BACKUP\n"
FORMAT = 1
ENCRYPTED = "aes-256-gcm-stream"
PLAIN = "none"
CHUNK_SIZE = 1 << 20
SCRYPT_N = 1 << 17
"""scrypt cost: 128 MiB of memory and about half a second per key, once per backup or restore."""
SCRYPT_R = 8
SCRYPT_P = 1
MAX_SCRYPT_N = 1 << 20
"""The largest cost a reader accepts from a header (1 GiB of memory): a forged header cannot
make ``avance backup verify`` exhaust the machine."""
MIN_PASSPHRASE = 12
_CHECK = b"avance-backup-check"
_TAG = 16
_MAX_HEADER = 64 * 1024


class BackupError(AvanceError):
    """The backup file cannot be written or read as one (its message says why)."""

    status = 400
    code = "backup.error.corrupt"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: Any) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (ValueError, TypeError):
        raise BackupError("backup.error.corrupt", detail="header") from None


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> tuple[bytes, bytes]:
    material = Scrypt(salt=salt, length=64, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))
    return material[:32], material[32:]


def _check(check_key: bytes) -> bytes:
    return hmac.new(check_key, _CHECK, hashlib.sha256).digest()[:16]


@dataclass(frozen=True)
class Header:
    """The plaintext head of a backup file, and what it takes to read the frames after it."""

    raw: bytes
    """The head's bytes as written (magic, length, JSON): the frames' associated data."""
    fields: dict[str, Any]

    @property
    def encrypted(self) -> bool:
        return self.fields.get("cipher") == ENCRYPTED

    @property
    def chunk_size(self) -> int:
        return int(self.fields["chunk_size"])


def _new_header(passphrase: str | None) -> tuple[Header, AESGCM | None, bytes]:
    fields: dict[str, Any] = {"format": FORMAT, "chunk_size": CHUNK_SIZE}
    aead = None
    prefix = b""
    if passphrase is None:
        fields["cipher"] = PLAIN
    else:
        salt, prefix = os.urandom(16), os.urandom(7)
        key, check_key = _derive(passphrase, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
        aead = AESGCM(key)
        fields.update(
            cipher=ENCRYPTED,
            kdf={"name": "scrypt", "salt": _b64(salt), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            nonce_prefix=_b64(prefix),
            check=_b64(_check(check_key)),
        )
    body = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode("utf-8")
    return Header(MAGIC + struct.pack(">I", len(body)) + body, fields), aead, prefix


def read_header(source: BinaryIO) -> Header:
    """The head of a backup file; ``BackupError`` when the file is not one."""
    magic = source.read(len(MAGIC))
    if magic != MAGIC:
        raise BackupError("backup.error.not_a_backup")
    size_bytes = source.read(4)
    if len(size_bytes) != 4:
        raise BackupError("backup.error.corrupt", detail="header")
    (size,) = struct.unpack(">I", size_bytes)
    if size > _MAX_HEADER:
        raise BackupError("backup.error.corrupt", detail="header")
    body = source.read(size)
    try:
        fields = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise BackupError("backup.error.corrupt", detail="header") from None
    if not isinstance(fields, dict) or fields.get("format") != FORMAT:
        raise BackupError("backup.error.format", format=fields.get("format") if isinstance(fields, dict) else "?", expected=FORMAT)
    if fields.get("cipher") not in (ENCRYPTED, PLAIN) or not isinstance(fields.get("chunk_size"), int) or not 0 < fields["chunk_size"] <= 64 * CHUNK_SIZE:
        raise BackupError("backup.error.corrupt", detail="header")
    return Header(magic + size_bytes + body, fields)


def _open_cipher(header: Header, passphrase: str | None) -> tuple[AESGCM | None, bytes]:
    if not header.encrypted:
        return None, b""
    if passphrase is None:
        raise BackupError("backup.error.no_passphrase")
    kdf = header.fields.get("kdf")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        raise BackupError("backup.error.corrupt", detail="header")
    try:
        n, r, p = int(kdf["n"]), int(kdf["r"]), int(kdf["p"])
    except (KeyError, TypeError, ValueError):
        raise BackupError("backup.error.corrupt", detail="header") from None
    if not (2 <= n <= MAX_SCRYPT_N and n & (n - 1) == 0 and 1 <= r <= 32 and 1 <= p <= 16 and n * r * 128 <= 1 << 30):
        raise BackupError("backup.error.corrupt", detail="header")
    prefix = _unb64(header.fields.get("nonce_prefix"))
    if len(prefix) != 7:
        raise BackupError("backup.error.corrupt", detail="header")
    key, check_key = _derive(passphrase, _unb64(kdf.get("salt")), n, r, p)
    if not hmac.compare_digest(_check(check_key), _unb64(header.fields.get("check"))):
        raise BackupError("backup.error.passphrase")
    return AESGCM(key), prefix


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">I", counter) + (b"\x01" if last else b"\x00")


class SealingWriter(io.RawIOBase):
    """A write-only stream that cuts what it is given in chunks and writes them sealed as frames."""

    def __init__(self, sink: BinaryIO, passphrase: str | None) -> None:
        super().__init__()
        self._sink = sink
        self.header, self._aead, self._prefix = _new_header(passphrase)
        self._buffer = bytearray()
        self._counter = 0
        self._finished = False
        sink.write(self.header.raw)

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self._buffer += view
        size = CHUNK_SIZE
        # A chunk is sealed once more follows it: only the last one is sealed as last.
        while len(self._buffer) > size:
            self._frame(bytes(self._buffer[:size]), last=False)
            del self._buffer[:size]
        return len(view)

    def _frame(self, chunk: bytes, last: bool) -> None:
        if self._aead is not None:
            chunk = self._aead.encrypt(_nonce(self._prefix, self._counter, last), chunk, self.header.raw)
        self._sink.write(struct.pack(">I", len(chunk)) + chunk)
        self._counter += 1
        if self._counter >= 1 << 32:
            raise BackupError("backup.error.too_large")

    def finish(self) -> None:
        """Seal the last chunk; the stream is complete (the sink is left open)."""
        if not self._finished:
            self._frame(bytes(self._buffer), last=True)
            self._buffer.clear()
            self._finished = True


class OpeningReader(io.RawIOBase):
    """A read-only stream of the plain bytes of a backup file's frames, checked as they come."""

    def __init__(self, source: BinaryIO, passphrase: str | None) -> None:
        super().__init__()
        self._source = source
        self.header = read_header(source)
        self._aead, self._prefix = _open_cipher(self.header, passphrase)
        self._limit = self.header.chunk_size + (_TAG if self._aead is not None else 0)
        self._pending = self._read_length()
        if self._pending is None:  # not even the last frame
            raise BackupError("backup.error.truncated")
        self._plain = b""
        self._offset = 0
        self._counter = 0
        self.complete = False
        """True once the last frame has been read and checked."""

    def readable(self) -> bool:
        return True

    def _read_length(self) -> int | None:
        raw = self._source.read(4)
        if not raw:
            return None
        if len(raw) != 4:
            raise BackupError("backup.error.truncated")
        (length,) = struct.unpack(">I", raw)
        if length > self._limit:
            raise BackupError("backup.error.corrupt", detail="frame")
        return length

    def _next_chunk(self) -> bool:
        if self._pending is None:
            return False
        body = self._source.read(self._pending)
        if len(body) != self._pending:
            raise BackupError("backup.error.truncated")
        following = self._read_length()
        last = following is None
        if self._aead is not None:
            try:
                body = self._aead.decrypt(_nonce(self._prefix, self._counter, last), body, self.header.raw)
            except InvalidTag:
                raise BackupError("backup.error.truncated" if last else "backup.error.corrupt", detail=f"frame {self._counter}") from None
        elif not last and len(body) != self.header.chunk_size:
            raise BackupError("backup.error.corrupt", detail=f"frame {self._counter}")
        self._counter += 1
        self._pending = following
        self._plain, self._offset = body, 0
        if last:
            self.complete = True
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while self._offset >= len(self._plain):
            if not self._next_chunk():
                return 0
        n = min(len(view), len(self._plain) - self._offset)
        view[:n] = self._plain[self._offset : self._offset + n]
        self._offset += n
        return n

    def drain(self) -> None:
        """Read (and check) what is left of the stream, up to its last frame."""
        while self._next_chunk():
            pass
