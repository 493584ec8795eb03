"""The three ACL users' rules, their rendering and the `ferstream acl` command; the
rules' effect on a real Redis is tested in ``tests/security``."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from common.acl import (
    PRODUCER,
    READER,
    ROLES,
    WORKER,
    acl_file,
    password_hash,
    read_passwords,
    setuser_lines,
    user,
)
from common.errors import FerStreamError
from common.settings import Settings
from ferstream.cli import main

PASSWORDS = {role: f"{role}-pw-0123456789" for role in ROLES}
ENV = {f"{role.upper()}_REDIS_PASSWORD": password for role, password in PASSWORDS.items()}


@pytest.mark.parametrize("role", ROLES)
def test_every_rule_set_starts_from_nothing(role: str) -> None:
    rules = user(Settings(), role).rules().split()
    assert rules[:3] == ["resetkeys", "resetchannels", "-@all"]
    assert not any(rule.startswith("+@") or rule in {"~*", "&*", "allkeys"} for rule in rules)


def test_key_patterns_follow_the_queue_name_and_key_prefix() -> None:
    settings = Settings(queue_name="frames-b", key_prefix="site-b")
    producer = user(settings, PRODUCER).rules()
    assert "~rq:queue:frames-b" in producer and "%RW~site-b:counts:*" in producer
    assert "&site-b:results:*" in user(settings, READER).rules()
    assert "%W~site-b:stream:*" in user(settings, WORKER).rules()


@pytest.mark.parametrize(
    ("role", "never"),
    [
        (PRODUCER, {"+xrange", "+xread", "+subscribe", "+hgetall", "+flushdb", "+publish"}),
        (READER, {"+rpush", "+hset", "+xadd", "+publish", "+hincrby", "+del", "+eval"}),
        (WORKER, {"+flushdb", "+flushall", "+keys", "+config", "+acl", "+xrange", "+client"}),
    ],
)
def test_no_role_may_send_what_it_never_needs(role: str, never: set[str]) -> None:
    assert not never & set(user(Settings(), role).rules().split())


def test_a_password_is_rendered_as_its_sha256_only() -> None:
    lines = setuser_lines(Settings(), PASSWORDS) + acl_file(Settings(), PASSWORDS)
    for password in PASSWORDS.values():
        assert not any(password in line for line in lines)
    digest = hashlib.sha256(PASSWORDS[WORKER].encode()).hexdigest()
    assert f"ACL SETUSER worker reset on #{digest} " in "\n".join(lines)
    assert acl_file(Settings(), PASSWORDS)[0].startswith("user producer reset on #")


@pytest.mark.parametrize("password", ["", "with space", " padded", "tab\there"])
def test_a_password_redis_cannot_hold_in_one_word_is_refused(password: str) -> None:
    with pytest.raises(FerStreamError, match="without spaces") as caught:
        password_hash(password)
    assert not password.strip() or password not in str(caught.value)


def test_a_missing_password_names_its_variable() -> None:
    with pytest.raises(FerStreamError, match="READER_REDIS_PASSWORD"):
        setuser_lines(Settings(), {PRODUCER: "a", WORKER: "b"})


def test_passwords_are_read_from_files_one_per_role(tmp_path: Path) -> None:
    for role, password in PASSWORDS.items():
        (tmp_path / role).write_text(password + "\n")
    assert read_passwords({}, tmp_path) == PASSWORDS
    assert read_passwords(ENV) == PASSWORDS


def test_ferstream_acl_prints_setuser_lines_from_the_environment() -> None:
    result = CliRunner().invoke(main, ["acl"], env=ENV)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert [line.split()[2] for line in lines] == list(ROLES)
    assert all(line.startswith("ACL SETUSER ") for line in lines)
    assert not any(password in result.output for password in PASSWORDS.values())


def test_ferstream_acl_file_format_from_a_passwords_folder(tmp_path: Path) -> None:
    for role, password in PASSWORDS.items():
        (tmp_path / role).write_text(password)
    result = CliRunner().invoke(main, ["acl", "--format", "file", "--passwords-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == acl_file(Settings.from_env(), PASSWORDS)
