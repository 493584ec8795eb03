"""Who may watch: anonymous on loopback only; a token or user:password beyond it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from common.errors import FerStreamError
from common.settings import Settings
from web.auth import Credentials, check_bind, is_loopback

TOKEN = "t0ken-0123456789abcdef"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize(
    ("credentials", "header", "allowed"),
    [
        (Credentials(), None, True),  # none configured: anonymous (loopback only, below)
        (Credentials(token=TOKEN), None, False),
        (Credentials(token=TOKEN), f"Bearer {TOKEN}", True),
        (Credentials(token=TOKEN), "Bearer wrong-token-0123456789", False),
        (Credentials(token=TOKEN), basic("anyone", TOKEN), True),  # a browser's prompt
        (Credentials(token=TOKEN), basic("anyone", "nope"), False),
        (Credentials(users={"ana": "pw-1"}), basic("ana", "pw-1"), True),
        (Credentials(users={"ana": "pw-1"}), basic("ana", "pw-2"), False),
        (Credentials(users={"ana": "pw-1"}), basic("bob", "pw-1"), False),
        (Credentials(users={"ana": "pw-1"}), "Basic not-base64!", False),
        (Credentials(users={"ana": "pw-1"}), "Digest whatever", False),
        (Credentials(users={"ana": "pw-1"}), f"Bearer {TOKEN}", False),  # no token set
    ],
)
def test_credentials_allow_only_what_was_configured(
    credentials: Credentials, header: str | None, allowed: bool
) -> None:
    assert credentials.allows(header) is allowed


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("10.1.2.3", False),
    ],
)
def test_loopback_addresses(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_a_non_local_bind_without_credentials_is_refused_with_what_to_set() -> None:
    with pytest.raises(
        FerStreamError, match=r"FERSTREAM_WEB_TOKEN.*FERSTREAM_WEB_CREDENTIALS_FILE"
    ):
        check_bind("0.0.0.0", Credentials())
    check_bind("0.0.0.0", Credentials(token=TOKEN))
    check_bind("127.0.0.1", Credentials())


def test_credentials_come_from_the_environment_or_files(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    users = tmp_path / "users"
    users.write_text("# viewers\nana:pw-1\n\nbob:pw:with:colons\n")
    settings = Settings(web_token_file=token_file, web_credentials_file=users)

    credentials = Credentials.from_settings(settings)

    assert credentials.token == TOKEN
    assert credentials.users == {"ana": "pw-1", "bob": "pw:with:colons"}
    assert TOKEN not in repr(credentials) and "pw-1" not in repr(credentials)
    from_env = Credentials.from_settings(Settings.from_env({"FERSTREAM_WEB_TOKEN": TOKEN}))
    assert from_env.token == TOKEN and TOKEN not in repr(Settings(web_token=TOKEN))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"web_token": "short"}, "at least 16 characters, got 5"),
        ({"web_token": TOKEN, "web_token_file": Path("/x")}, "got both"),
        ({"web_token_file": Path("/no/such/file")}, "expected a readable file"),
        ({"web_credentials_file": "bad"}, "line 1: expected user:password"),
    ],
)
def test_bad_credentials_settings_fail_clearly_without_echoing_a_secret(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    if changes.get("web_credentials_file") == "bad":
        path = tmp_path / "users"
        path.write_text("only-a-name-and-no-secret-s3cr3t\n")
        changes = {"web_credentials_file": path}
    with pytest.raises(FerStreamError, match=message) as caught:
        Credentials.from_settings(Settings(**changes))  # type: ignore[arg-type]
    assert "s3cr3t" not in str(caught.value) and TOKEN not in str(caught.value)
