"""`DATABASE_URL` forms: what each becomes for SQLAlchemy and asyncpg, and real connections."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.storage.db import Database
from gateway.storage.db.dsn import DatabaseUrlError, engine_options
from gateway.storage.db.reach import DatabaseUnreachable, check_reachable
from tests.auxil.databases import PostgresServer


def test_postgres_schemes_all_become_the_asyncpg_dialect() -> None:
    for scheme in ("postgres", "postgresql", "postgresql+asyncpg"):
        options = engine_options(f"{scheme}://u:p%40ss@db.example:6543/app")
        assert options.url.drivername == "postgresql+asyncpg"
        assert (options.url.host, options.url.port, options.url.database) == (
            "db.example",
            6543,
            "app",
        )
        assert options.url.password == "p@ss"
        assert options.connect_args == {}
        assert not options.is_sqlite


def test_sqlite_forms_stay_sqlite_on_aiosqlite() -> None:
    for url in ("sqlite+aiosqlite:///./gateway.db", "sqlite:///./gateway.db"):
        options = engine_options(url)
        assert options.is_sqlite
        assert options.url.drivername == "sqlite+aiosqlite"
        assert options.url.database == "./gateway.db"


@pytest.mark.parametrize(
    "mode", ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
)
def test_sslmode_becomes_asyncpgs_ssl_argument(mode: str) -> None:
    options = engine_options(f"postgres://u@h/db?sslmode={mode}")
    assert options.connect_args == {"ssl": mode}
    assert dict(options.url.query) == {}  # nothing left for asyncpg.connect() to choke on


def test_sqlalchemy_ssl_spelling_and_booleans_are_accepted() -> None:
    assert engine_options("postgresql+asyncpg://u@h/db?ssl=require").connect_args == {
        "ssl": "require"
    }
    assert engine_options("postgresql+asyncpg://u@h/db?ssl=true").connect_args == {"ssl": "require"}


def test_timeout_application_name_and_session_attrs_are_translated() -> None:
    options = engine_options(
        "postgres://u@h/db?connect_timeout=7&application_name=gw-web&target_session_attrs=read-write"
    )
    assert options.connect_args == {
        "timeout": 7.0,
        "server_settings": {"application_name": "gw-web"},
        "target_session_attrs": "read-write",
    }
    assert "timeout" not in engine_options("postgres://u@h/db?connect_timeout=0").connect_args


def test_a_socket_directory_in_the_query_stays_for_sqlalchemy() -> None:
    options = engine_options("postgres://u@/db?host=/cloudsql/project:region:instance")
    assert dict(options.url.query) == {"host": "/cloudsql/project:region:instance"}


def _certificate(tmp_path: Path) -> tuple[Path, Path]:
    key, cert = tmp_path / "client.key", tmp_path / "client.crt"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=gw"),
            *("-keyout", str(key), "-out", str(cert), "-days", "1"),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def test_certificate_options_build_an_ssl_context(tmp_path: Path) -> None:
    key, cert = _certificate(tmp_path)
    full = engine_options(
        f"postgres://u@h/db?sslmode=verify-full&sslrootcert={cert}&sslcert={cert}&sslkey={key}"
    ).connect_args["ssl"]
    assert isinstance(full, ssl.SSLContext)
    assert full.check_hostname and full.verify_mode == ssl.CERT_REQUIRED
    ca = engine_options(f"postgres://u@h/db?sslmode=verify-ca&sslrootcert={cert}")
    context = ca.connect_args["ssl"]
    assert not context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
    # libpq: `require` with a root certificate verifies the chain; without one it does not.
    rooted = engine_options(f"postgres://u@h/db?sslmode=require&sslrootcert={cert}")
    assert rooted.connect_args["ssl"].verify_mode == ssl.CERT_REQUIRED
    client_only = engine_options(f"postgres://u@h/db?sslmode=require&sslcert={cert}&sslkey={key}")
    assert client_only.connect_args["ssl"].verify_mode == ssl.CERT_NONE


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("mysql://u@h/db", "'mysql'"),
        ("postgresql+psycopg://u@h/db", "'postgresql+psycopg'"),
        ("postgres://u@h/db?sslmode=sometimes", "sslmode='sometimes'"),
        ("postgres://u@h/db?keepalives=1", "'keepalives'"),
        ("postgres://u@h/db?connect_timeout=soon", "connect_timeout='soon'"),
        ("postgres://u@h/db?sslmode=require&ssl=require", "'sslmode' and 'ssl'"),
        ("postgres://u@h/db?sslmode=prefer&sslrootcert=/x.crt", "sslrootcert"),
        ("postgres://u@h/db?sslmode=require&sslrootcert=/nonexistent/root.crt", "sslrootcert"),
        ("postgres://u@h/db?sslmode=require&sslkey=/x.key", "sslkey without sslcert"),
        ("not a url at all", "not a URL"),
    ],
)
def test_what_cannot_be_used_is_one_line_naming_it(url: str, named: str) -> None:
    with pytest.raises(DatabaseUrlError) as caught:
        engine_options(url)
    message = str(caught.value)
    assert named in message and "\n" not in message


@pytest.fixture
def pg(_postgres: PostgresServer) -> PostgresServer:
    _postgres.require()
    return _postgres


async def _connects(url: str) -> str:
    db = Database(url, pool_size=1)
    try:
        await check_reachable(db)
        async with db.engine.connect() as conn:
            name = await conn.scalar(text("SELECT current_setting('application_name')"))
        # The claim pool (asyncpg's hot path beneath it) connects the same way, its own
        # server settings added to the URL's.
        async with db.claims.connect() as conn:
            assert await conn.scalar(text("SHOW synchronous_commit")) == "off"
            assert await conn.scalar(text("SELECT current_setting('application_name')")) == name
        return str(name)
    finally:
        await db.close()


@pytest.mark.parametrize(
    "suffix",
    ["", "?sslmode=disable", "?sslmode=prefer", "?sslmode=allow&connect_timeout=5"],
)
async def test_libpq_forms_connect_to_the_local_server(pg: PostgresServer, suffix: str) -> None:
    database = pg.url.rsplit("/", 1)[1]
    for scheme in ("postgres", "postgresql"):
        await _connects(f"{scheme}://postgres@127.0.0.1:5432/{database}{suffix}")


async def test_application_name_reaches_the_server(pg: PostgresServer) -> None:
    database = pg.url.rsplit("/", 1)[1]
    url = f"postgres://postgres@127.0.0.1:5432/{database}?application_name=gateway-web"
    assert await _connects(url) == "gateway-web"


async def test_require_against_a_server_without_tls_is_one_clear_line(pg: PostgresServer) -> None:
    database = pg.url.rsplit("/", 1)[1]
    db = Database(f"postgresql://postgres@127.0.0.1:5432/{database}?sslmode=require", pool_size=1)
    try:
        with pytest.raises(DatabaseUnreachable) as caught:
            await check_reachable(db)
    finally:
        await db.close()
    message = str(caught.value)
    assert "rejected SSL upgrade" in message and "sslmode=prefer" in message
    assert "\n" not in message
