"""Client(token=...) against a bnserve with --token-file, Client(tls=...) against one serving TLS, and a
model's recalibration limit: the UNAUTHENTICATED, PERMISSION_DENIED and RESOURCE_EXHAUSTED error classes,
with the server's messages."""
import os
import subprocess

import numpy as np
import pytest

from conftest import Server

ADMIN, READ = "admin-token-0123456789abcdef0123456789abcdef", "read-token-0123456789abcdef0123456789abcdef0"


@pytest.fixture(scope="module")
def guarded(tmp_path_factory):
    root = tmp_path_factory.mktemp("guarded")
    tokens = os.path.join(str(root), "tokens")
    with open(tokens, "w") as f:
        f.write("admin %s\nread %s\n" % (ADMIN, READ))
    os.chmod(tokens, 0o600)
    running = Server(str(root), ["--token-file", tokens],
                     {"mlp": '{"max_recalibration_batch_samples": 16}'})
    yield running
    running.stop()


def test_tokens_and_roles(bnserve, guarded):
    batch = np.random.default_rng(0).normal(size=(8, 8)).astype(np.float32)
    with bnserve.Client(guarded.address) as anonymous:
        assert anonymous.models().names == ["digits", "mlp"]  # read RPCs stay open (--read-auth open)
        with pytest.raises(bnserve.Unauthenticated):
            anonymous.rollback("mlp", 1)
    with bnserve.Client(guarded.address, token=READ) as reader:
        with pytest.raises(bnserve.PermissionDenied, match="Rollback requires role 'admin'"):
            reader.rollback("mlp", 1)
        with pytest.raises(bnserve.PermissionDenied):
            reader.recalibrate("mlp", [batch])
    with bnserve.Client(guarded.address, token=ADMIN) as admin:
        assert admin.recalibrate("mlp", [batch]).new_version.version == 2
        assert admin.rollback("mlp", 1).version == 3


def test_recalibration_limit(bnserve, guarded):
    with bnserve.Client(guarded.address, token=ADMIN) as admin:
        before = admin.history("mlp").current_version
        with pytest.raises(bnserve.ResourceExhausted, match="max_recalibration_batch_samples"):
            admin.recalibrate("mlp", [np.zeros((17, 8), np.float32)])
        assert admin.history("mlp").current_version == before


def test_tls(bnserve, tmp_path_factory):
    root = str(tmp_path_factory.mktemp("tls"))
    cert, key = os.path.join(root, "server.pem"), os.path.join(root, "server.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    running = Server(root, ["--tls-cert", cert, "--tls-key", key])
    try:
        with bnserve.Client(running.address, tls=cert) as client:
            assert client.models().names == ["digits", "mlp"]
        with bnserve.Client(running.address, timeout=10) as plaintext:
            with pytest.raises(bnserve.Unavailable):
                plaintext.models()
    finally:
        running.stop()
