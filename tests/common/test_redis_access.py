"""How a process reaches Redis: its user, its password (environment, URL or file) and its
TLS checks, built from Settings; no secret in any message or repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import FerStreamError
from common.redis_access import RedisAccess, TlsOptions
from common.settings import Settings

SECRET = "s3cret-Pa55"


def test_the_user_and_password_come_from_the_environment() -> None:
    env = {
        "REDIS_URL": "redis://redis:6379/0",
        "FERSTREAM_REDIS_USERNAME": "producer",
        "FERSTREAM_REDIS_PASSWORD": SECRET,
    }
    access = RedisAccess.from_settings(Settings.from_env(env))
    assert (access.user, access.password, access.where) == ("producer", SECRET, env["REDIS_URL"])
    kwargs = access.client().connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"]) == ("producer", SECRET)


def test_the_password_can_come_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "worker.password"
    path.write_text(SECRET + "\n")
    env = {"REDIS_URL": "redis://redis/0", "FERSTREAM_REDIS_PASSWORD_FILE": str(path)}
    assert RedisAccess.from_settings(Settings.from_env(env)).password == SECRET


@pytest.mark.parametrize(
    ("content", "says"), [(None, "expected a readable file"), ("\n", "expected a password")]
)
def test_a_missing_or_empty_password_file_is_a_clear_error(
    tmp_path: Path, content: str | None, says: str
) -> None:
    path = tmp_path / "password"
    if content is not None:
        path.write_text(content)
    settings = Settings(redis_url="redis://redis/0", redis_password_file=path)
    with pytest.raises(FerStreamError, match=says):
        RedisAccess.from_settings(settings)


def test_a_password_and_a_password_file_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FerStreamError, match="got both") as caught:
        Settings(redis_password=SECRET, redis_password_file=tmp_path / "p")
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize(
    ("url", "username", "user"),
    [
        ("redis://redis/0", None, "default"),
        ("redis://reader:pw@redis/0", None, "reader"),
        ("redis://reader:pw@redis/0", "worker", "worker"),
    ],
)
def test_the_user_is_named_by_the_setting_else_the_url(
    url: str, username: str | None, user: str
) -> None:
    assert RedisAccess(url, username=username).user == user


def test_no_repr_or_scrubbed_message_holds_a_password() -> None:
    settings = Settings(redis_url=f"rediss://u:{SECRET}@h/0", redis_password="an%40other")
    access = RedisAccess.from_settings(settings)
    for shown in (repr(settings), repr(access)):
        assert SECRET not in shown and "an%40other" not in shown
    said = access.scrub(f"failed for {SECRET} and an%40other and an@other")
    assert said == "failed for *** and *** and ***"


def test_rediss_verifies_the_certificate_and_its_name_by_default() -> None:
    kwargs = RedisAccess("rediss://redis:6379/0").client().connection_pool.connection_kwargs
    assert kwargs["ssl_cert_reqs"] == "required"
    assert kwargs["ssl_check_hostname"] is True
    assert kwargs["ssl_ca_certs"] is None  # the system's trusted CAs


def test_tls_files_with_a_plain_text_url_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FerStreamError, match="expected a rediss:// REDIS_URL"):
        RedisAccess("redis://redis/0", tls=TlsOptions(ca_file=tmp_path / "ca.crt"))


@pytest.mark.parametrize("query", ["ssl_cert_reqs=none", "ssl_check_hostname=false"])
def test_the_url_cannot_turn_certificate_checks_off(query: str) -> None:
    with pytest.raises(FerStreamError, match="expected no ssl_"):
        RedisAccess(f"rediss://redis/0?{query}")


def test_a_missing_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    access = RedisAccess("rediss://redis/0", tls=TlsOptions(ca_file=tmp_path / "nope.crt"))
    with pytest.raises(FerStreamError, match="FERSTREAM_REDIS_TLS_CA_FILE: expected a PEM file"):
        access.client()
