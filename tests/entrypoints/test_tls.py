"""Transport: ``avance serve --tls-certfile/--tls-keyfile`` answers over HTTPS (with HSTS), and a
partner's endpoint must be HTTPS unless it is on this machine."""

from __future__ import annotations

import ipaddress
import os
import ssl
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from avance.exchange.partners import check_endpoint
from avance.kit.errors import ValidationFailed
from tests.support import free_port, run_avance


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and localhost, and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "avance.test")])
    now = datetime.now(timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "node.crt", folder / "node.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


def test_serve_answers_over_https_with_hsts(tmp_path):
    assert run_avance(["init", "--country", "SN"], tmp_path).returncode == 0
    cert_file, key_file = self_signed(tmp_path)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("AVANCE_")}
    env.update(AVANCE_DATA_DIR=str(tmp_path), AVANCE_LANG="en")
    command = [sys.executable, "-m", "avance", "serve", "--port", str(port), "--tls-certfile", str(cert_file), "--tls-keyfile", str(key_file)]
    server = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    trusted = ssl.create_default_context(cafile=str(cert_file))
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = httpx.get(f"https://127.0.0.1:{port}/health", verify=trusted, timeout=5)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"the HTTPS server did not answer: {server.stderr.read().decode() if server.poll() is not None else 'timeout'}")
                time.sleep(0.2)
        assert response.status_code == 200 and response.json()["status"] == "ok"
        assert response.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
        with pytest.raises(httpx.TransportError):  # plain HTTP is not served on that port
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_serve_wants_both_the_certificate_and_its_key(tmp_path):
    cert_file, _ = self_signed(tmp_path)
    result = run_avance(["serve", "--tls-certfile", str(cert_file)], tmp_path)
    assert result.returncode == 2 and "--tls-keyfile" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9", "http://127.9.9.9:8000/", "http://localhost:8001", "http://[::1]:8000", "https://avance.douanes.ci"])
def test_a_partner_endpoint_over_https_or_on_this_machine_is_accepted(endpoint):
    assert check_endpoint(endpoint) == endpoint.rstrip("/")


@pytest.mark.parametrize("endpoint", ["http://avance.douanes.ci", "http://10.0.0.5:8000", "http://128.0.0.1", "http://localhost.example.org"])
def test_a_partner_endpoint_over_plain_http_elsewhere_is_refused(endpoint):
    with pytest.raises(ValidationFailed) as refused:
        check_endpoint(endpoint)
    [issue] = refused.value.issues
    assert issue.code == "partners.endpoint_not_https" and issue.pointer == "/endpoint"
    assert "https" in issue.message("en") and "https" in issue.message("fr")
