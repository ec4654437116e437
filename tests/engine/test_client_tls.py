"""DOCKER_HOST=tcp://… with DOCKER_TLS_VERIFY / DOCKER_CERT_PATH, as the docker CLI reads them."""

from __future__ import annotations

import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from logship.config import load
from logship.engine import EngineClient, EngineError
from tests.fakes.certs import CertificateAuthority


@pytest.fixture
async def tls_engine(tmp_path: Path) -> AsyncIterator[tuple[int, CertificateAuthority]]:
    """An engine-like TLS endpoint on loopback that requires a client certificate from its CA."""
    ca = CertificateAuthority(tmp_path / "ca")
    server = ca.issue("localhost")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.ca_file))
    context.load_cert_chain(str(server.cert_file), str(server.key_file))
    context.verify_mode = ssl.CERT_REQUIRED

    async def version(_: web.Request) -> web.Response:
        return web.json_response({"ApiVersion": "1.41", "Version": "20.10.24"})

    async def info(_: web.Request) -> web.Response:
        return web.json_response({"Name": "tls-node", "ID": "E:ID", "Swarm": {}})

    app = web.Application()
    app.router.add_get("/version", version)
    app.router.add_get("/v1.41/info", info)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield port, ca
    await runner.cleanup()


def cert_dir(tmp_path: Path, ca: CertificateAuthority) -> Path:
    """A DOCKER_CERT_PATH folder: ca.pem, cert.pem, key.pem."""
    client = ca.issue("client", server=False)
    folder = tmp_path / "docker-certs"
    folder.mkdir()
    shutil.copy(ca.ca_file, folder / "ca.pem")
    shutil.copy(client.cert_file, folder / "cert.pem")
    shutil.copy(client.key_file, folder / "key.pem")
    return folder


async def test_tcp_with_tls_verify_and_client_certificate(tls_engine: tuple[int, CertificateAuthority],
                                                          tmp_path: Path) -> None:
    port, ca = tls_engine
    config = load({"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1",
                   "DOCKER_CERT_PATH": str(cert_dir(tmp_path, ca))})
    async with EngineClient(config.engine) as engine:
        assert await engine.negotiate() == "1.41"
        assert (await engine.info())["Name"] == "tls-node"


async def test_tls_with_a_foreign_ca_is_a_clear_error(tls_engine: tuple[int, CertificateAuthority],
                                                       tmp_path: Path) -> None:
    port, ca = tls_engine
    folder = cert_dir(tmp_path, ca)
    shutil.copy(CertificateAuthority(tmp_path / "other", name="other-ca").ca_file, folder / "ca.pem")
    config = load({"DOCKER_HOST": f"tcp://127.0.0.1:{port}", "DOCKER_TLS_VERIFY": "1",
                   "DOCKER_CERT_PATH": str(folder)})
    async with EngineClient(config.engine) as engine:
        with pytest.raises(EngineError, match="certificate"):
            await engine.negotiate()
