"""Unit tests of the foundation: settings, encryption at rest, password hashing, tokens, rates, IP rewrite."""

from __future__ import annotations

import secrets

import pytest

from core.ip_rewrite import rewrite_released_ip
from core.rates import Burst, format_rate, mikrotik_rate_limit, parse_rate
from shared.crypto import (
    CryptoError,
    FileKeyProvider,
    SecretBox,
    StaticKeyProvider,
    hash_password,
    random_password,
    verify_password,
)
from shared.settings import Settings, SettingsError
from shared.tokens import TokenError, TokenSigner


def box() -> SecretBox:
    return SecretBox(StaticKeyProvider(secrets.token_bytes(32)))


def test_secret_box_round_trip_and_ciphertext_hides_the_value():
    b = box()
    token = b.encrypt("demo123")
    assert "demo123" not in token and token.startswith("v1:")
    assert b.decrypt(token) == "demo123"
    assert b.encrypt("demo123") != token  # random nonce


def test_secret_box_refuses_another_key_and_tampering():
    token = box().encrypt("s3cret")
    with pytest.raises(CryptoError):
        box().decrypt(token)
    b = box()
    good = b.encrypt("s3cret")
    tampered = good[:-4] + ("AAAA" if good[-4:] != "AAAA" else "BBBB")
    with pytest.raises(CryptoError):
        b.decrypt(tampered)


def test_file_key_provider_creates_a_private_key_once(tmp_path):
    path = tmp_path / "k" / "data.key"
    k1 = FileKeyProvider(path).data_key()
    assert len(k1) == 32 and (path.stat().st_mode & 0o777) == 0o600
    assert FileKeyProvider(path).data_key() == k1


def test_password_hash_verifies_only_the_right_password():
    stored = hash_password("portal-pass")
    assert "portal-pass" not in stored
    assert verify_password("portal-pass", stored)
    assert not verify_password("portal-pasS", stored)
    assert not verify_password("x", "garbage")
    assert not verify_password("x", None)


def test_random_password_uses_unambiguous_alphabet():
    pw = random_password(12)
    assert len(pw) == 12 and not set(pw) & set("il1o0")


def test_tokens_expire_and_are_bound_to_their_type():
    signer = TokenSigner(box())
    tok = signer.sign("operator", {"sub": "op_1"}, ttl_seconds=60, now=1000)
    assert signer.verify("operator", tok, now=1030)["sub"] == "op_1"
    with pytest.raises(TokenError, match="expired"):
        signer.verify("operator", tok, now=1061)
    with pytest.raises(TokenError):
        signer.verify("autologin", tok, now=1030)
    body, mac = tok.split(".")
    with pytest.raises(TokenError):
        signer.verify("operator", body + "x." + mac, now=1030)


@pytest.mark.parametrize(
    ("bps", "text"), [(4_000_000, "4M"), (512_000, "512k"), (1500, "1500"), (0, "0"), (2_500_000, "2500k")]
)
def test_rate_format_and_parse(bps, text):
    assert format_rate(bps) == text
    assert parse_rate(text) == bps


def test_mikrotik_rate_limit_is_upload_first():
    # PROTOCOLS.md: upload 1 Mbit/s, download 4 Mbit/s → "1M/4M"
    assert mikrotik_rate_limit(download_bps=4_000_000, upload_bps=1_000_000) == "1M/4M"
    burst = Burst(
        download_limit=8_000_000,
        upload_limit=2_000_000,
        download_threshold=3_000_000,
        upload_threshold=750_000,
        download_time=10,
        upload_time=10,
    )
    assert mikrotik_rate_limit(4_000_000, 1_000_000, burst) == "1M/4M 2M/8M 750k/3M 10/10"


@pytest.mark.parametrize(
    ("ip", "taken", "expected"),
    [
        ("10.20.30.40", (), "127.0.30.40"),
        ("192.168.5.9", (), "169.254.5.9"),
        ("172.16.1.2", (), "168.0.1.2"),
        ("45.6.7.8", (), "168.0.7.8"),
        ("10.20.30.40", ("127.0.30.40",), "100.64.30.40"),
        ("10.20.30.40", ("127.0.30.40", "100.64.30.40"), None),  # never a duplicate
    ],
)
def test_released_ip_rewrite_table(ip, taken, expected):
    assert rewrite_released_ip(ip, taken) == expected


def test_settings_read_from_environment_with_clear_errors():
    s = Settings.from_env({"WISP_STAGE": "prod", "WISP_RADIUS_AUTH_PORT": "11812"})
    assert s.table_prefix == "wisp-prod-" and s.radius_auth_port == 11812
    with pytest.raises(SettingsError, match="WISP_API_PORT"):
        Settings.from_env({"WISP_API_PORT": "eighty"})


def test_log_fields_with_reserved_logrecord_names_never_fail_a_call(caplog):
    from shared.observability import RESERVED_FIELDS, get_logger, logger, set_log_level

    log = get_logger("test")
    before = logger.log_level
    set_log_level("DEBUG")
    try:
        for name in sorted(RESERVED_FIELDS):
            log.info("reserved field", extra={name: 7, f"{name}_": 8, "password": "hunter2"})
    finally:
        logger.setLevel(before)
    records = [r for r in caplog.records if r.getMessage() == "reserved field"]
    assert len(records) == len(RESERVED_FIELDS)
    for name, record in zip(sorted(RESERVED_FIELDS), records, strict=True):
        kept = record.__dict__
        assert (kept[f"{name}_"], kept[f"{name}__"], kept["password"]) == (8, 7, "***")


def test_a_logged_validation_error_keeps_its_reasons_but_not_the_values_it_was_given(caplog):
    import logging

    from pydantic import BaseModel

    from shared.observability import get_logger

    class Card(BaseModel):
        username: str
        password: str

    log = get_logger("test")
    try:
        try:
            Card.model_validate({"password": "hunter2-card"})
        except ValueError as exc:
            raise RuntimeError("card not built") from exc
    except RuntimeError:
        log.exception("card failed")
    (record,) = [r for r in caplog.records if r.getMessage() == "card failed"]
    text = logging.Formatter().formatException(record.exc_info)
    assert "hunter2-card" not in text
    assert "card not built" in text and "Card" in text and "username: Field required" in text
