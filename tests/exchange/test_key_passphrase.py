"""The node's private signing keys can be encrypted with a passphrase, so that a copy of its data
folder does not give them away; the passphrase comes from a file or the environment, so that every
host starts unattended; a missing or wrong one stops the node with one clear line."""

from __future__ import annotations

import stat
from collections.abc import Iterator

import pytest

from avance.exchange import keys
from avance.exchange.envelope import build, sign, verify
from avance.kit.errors import ConfigurationError
from avance.kit.settings import get_settings
from avance.store.engine import write
from tests.support import run_avance

ENCRYPTED = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"


@pytest.fixture
def passphrase_env(monkeypatch, tmp_path) -> Iterator[object]:
    """Set the passphrase settings for this process (cached settings and keys forgotten around)."""

    def use(**env: str) -> None:
        for name in ("AVANCE_KEY_PASSPHRASE", "AVANCE_KEY_PASSPHRASE_FILE"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        get_settings.cache_clear()
        keys._cache.clear()

    use()
    yield use
    get_settings.cache_clear()
    keys._cache.clear()


def key_files(data_dir) -> list:
    return sorted((data_dir / keys.KEY_DIR).glob("*.pem"))


def test_with_a_passphrase_new_keys_are_written_encrypted_and_sign(sqlite_node, passphrase_env, tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple\n")
    passphrase_env(AVANCE_KEY_PASSPHRASE_FILE=str(secret))
    data_dir = sqlite_node.settings.data_dir
    with write(sqlite_node.engine) as conn:
        key = keys.init(conn, data_dir, "SN-AVANCE")
    [path] = key_files(data_dir)
    assert path.read_bytes().startswith(ENCRYPTED) and stat.S_IMODE(path.stat().st_mode) == 0o600
    signed = sign(build(sender="SN-AVANCE", recipient="CI-AVANCE", type="ack", payload={"message_id": "x", "status": "accepted"}), key.kid, keys.private_key(data_dir, key.kid))
    assert verify(signed, keys.load_public_key(key.public_key))

    passphrase_env()  # the next start without it
    with pytest.raises(ConfigurationError) as missing:
        keys.private_key(data_dir, key.kid)
    assert missing.value.code == "exchange.key_passphrase_missing" and "AVANCE_KEY_PASSPHRASE" in missing.value.message("en")
    passphrase_env(AVANCE_KEY_PASSPHRASE="not it")
    with pytest.raises(ConfigurationError) as wrong:
        keys.private_key(data_dir, key.kid)
    assert wrong.value.code == "exchange.key_passphrase_wrong"
    passphrase_env(AVANCE_KEY_PASSPHRASE="correct horse battery staple")  # the variable works as well as the file
    assert keys.private_key(data_dir, key.kid) is not None


def test_keys_written_before_are_encrypted_in_place_by_protect(sqlite_node, passphrase_env):
    data_dir = sqlite_node.settings.data_dir
    with write(sqlite_node.engine) as conn:
        first = keys.init(conn, data_dir, "SN-AVANCE")
        keys.rotate(conn, data_dir)
    assert not any(p.read_bytes().startswith(ENCRYPTED) for p in key_files(data_dir))
    with pytest.raises(ConfigurationError) as none:
        keys.protect(data_dir, None)
    assert none.value.code == "exchange.key_passphrase_none"
    assert keys.protect(data_dir, b"s3cret") == (2, 0)
    assert all(p.read_bytes().startswith(ENCRYPTED) and stat.S_IMODE(p.stat().st_mode) == 0o600 for p in key_files(data_dir))
    assert keys.protect(data_dir, b"s3cret") == (0, 2)  # again: nothing to do
    with pytest.raises(ConfigurationError):  # another passphrase would split the keys between two
        keys.protect(data_dir, b"another")
    passphrase_env(AVANCE_KEY_PASSPHRASE="s3cret")
    with sqlite_node.engine.connect() as conn:
        assert keys.check_private_keys(conn, data_dir) == 2  # the current key and the previous one in its grace period
    assert keys.private_key(data_dir, first.kid) is not None
    assert keys.protect(data_dir, b"n3w", old=b"s3cret") == (2, 0)  # a change of passphrase
    passphrase_env(AVANCE_KEY_PASSPHRASE="n3w")
    assert keys.private_key(data_dir, first.kid) is not None


def test_the_operator_protects_the_keys_and_a_wrong_passphrase_stops_serve_with_one_line(tmp_path):
    assert run_avance(["init", "--country", "SN"], tmp_path).returncode == 0
    assert run_avance(["exchange", "init", "--node-id", "SN-AVANCE"], tmp_path).returncode == 0
    secret = tmp_path / "secrets" / "passphrase"
    secret.parent.mkdir()
    secret.write_text("une phrase secrète\n", encoding="utf-8")
    protected = run_avance(["exchange", "protect-keys"], tmp_path, AVANCE_KEY_PASSPHRASE_FILE=str(secret))
    assert protected.returncode == 0, protected.stderr
    assert "1" in protected.stdout
    assert all(p.read_bytes().startswith(ENCRYPTED) for p in key_files(tmp_path))

    for env, words in [({}, "is encrypted"), ({"AVANCE_KEY_PASSPHRASE": "wrong"}, "does not open")]:
        refused = run_avance(["serve", "--port", "9"], tmp_path, **env)
        assert refused.returncode == 2, (env, refused.stderr)
        assert len(refused.stderr.strip().splitlines()) == 1 and words in refused.stderr and "Traceback" not in refused.stderr


def test_an_unreadable_passphrase_file_is_one_clear_error(sqlite_node, passphrase_env, tmp_path):
    with write(sqlite_node.engine) as conn:
        key = keys.init(conn, sqlite_node.settings.data_dir, "SN-AVANCE")
    keys.protect(sqlite_node.settings.data_dir, b"s3cret")
    passphrase_env(AVANCE_KEY_PASSPHRASE_FILE=str(tmp_path / "nowhere"))
    with pytest.raises(ConfigurationError) as unreadable:
        keys.private_key(sqlite_node.settings.data_dir, key.kid)
    assert unreadable.value.code == "exchange.key_passphrase_unreadable" and "nowhere" in unreadable.value.message("en")
