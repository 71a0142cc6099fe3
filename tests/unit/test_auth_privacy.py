"""Residents' contacts sealed at rest and in dead letters; the keyed phone digest; key rotation."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet

from gridloop.auth.privacy import DLT_SEALED_HEADER, InvalidToken, ResidentCipher
from gridloop.contracts.topics import CASES_REPORTED, CASES_STATUS

RESIDENT = {
    "name": "张秀英",
    "phone": "13812345678",
    "notify_consent": True,
    "channel": "email",
    "email": "z@example.com",
}
OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def cipher(*keys: str) -> ResidentCipher:
    return ResidentCipher(list(keys) or [NEW], "digest-key-of-sixteen-bytes")


def test_a_sealed_contact_hides_name_phone_and_email_and_keeps_the_channel_readable() -> None:
    sealed = cipher().seal(RESIDENT)
    text = json.dumps(sealed, ensure_ascii=False)
    assert "13812345678" not in text and "张秀英" not in text and "z@example.com" not in text
    assert (sealed["channel"], sealed["notify_consent"], sealed["sealed"]) == ("email", True, True)
    assert cipher().open(sealed) == RESIDENT


def test_rows_from_before_sealing_are_read_as_they_are() -> None:
    assert cipher().open(RESIDENT) == RESIDENT


def test_a_rotated_key_still_opens_old_rows_and_seals_with_the_new_one() -> None:
    old_row = cipher(OLD).seal(RESIDENT)
    rotated = cipher(NEW, OLD)
    assert rotated.open(old_row) == RESIDENT
    with pytest.raises(InvalidToken):
        cipher(OLD).open(rotated.seal(RESIDENT))


def test_the_phone_digest_is_stable_and_keyed() -> None:
    assert cipher().digest("13812345678") == cipher(OLD).digest("13812345678")
    assert cipher().digest("13812345678") != ResidentCipher([NEW], "another-digest-key!!").digest("13812345678")
    assert "13812345678" not in cipher().digest("13812345678")


def test_a_dead_letter_keeps_everything_but_the_resident_readable_and_replays_to_the_original() -> None:
    value = json.dumps({"case_id": "c1", "worker_id": "JN-W0001", "resident": RESIDENT}, ensure_ascii=False).encode()
    sealed, headers = cipher().seal_dead_letter(CASES_REPORTED, value)
    assert headers == [(DLT_SEALED_HEADER, b"resident")]
    assert b"13812345678" not in sealed and json.loads(sealed)["worker_id"] == "JN-W0001"
    assert json.loads(cipher().open_dead_letter(sealed, headers)) == json.loads(value)


def test_an_unreadable_dead_letter_on_a_resident_topic_is_encrypted_whole() -> None:
    value = b"\x00\xff 13812345678 not json"
    sealed, headers = cipher().seal_dead_letter(CASES_REPORTED, value)
    assert headers == [(DLT_SEALED_HEADER, b"value")] and b"13812345678" not in sealed
    assert cipher().open_dead_letter(sealed, headers) == value


def test_dead_letters_of_other_topics_are_left_alone() -> None:
    assert cipher().seal_dead_letter(CASES_STATUS, b'{"note": "x"}') == (b'{"note": "x"}', [])
    assert cipher().open_dead_letter(b"x", []) == b"x"
