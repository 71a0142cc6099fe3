"""Webhook signatures follow Standard Webhooks, so any receiver's library can verify them."""

import base64
import json
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from services.notify.channels import sign_webhook

SECRET = "whsec_" + base64.b64encode(b"gridloop-test-signing-key-32byte").decode()


def test_signature_matches_the_specification_example() -> None:
    signature = sign_webhook(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek",
        timestamp=1614265330,
        body=b'{"test": 2432232314}',
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_standardwebhooks_library_accepts_our_signature() -> None:
    body = json.dumps({"type": "case.status_changed", "data": {"text": "已办结"}}, ensure_ascii=False).encode()
    timestamp = int(time.time())
    headers = {
        "webhook-id": "5f1c4f7e-0000-4000-8000-000000000001",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign_webhook(
            SECRET, msg_id="5f1c4f7e-0000-4000-8000-000000000001", timestamp=timestamp, body=body
        ),
    }
    assert Webhook(SECRET).verify(body, headers)["data"]["text"] == "已办结"


def test_a_tampered_body_fails_verification() -> None:
    timestamp = int(time.time())
    signature = sign_webhook(SECRET, msg_id="m1", timestamp=timestamp, body=b'{"step": "resolved"}')
    headers = {"webhook-id": "m1", "webhook-timestamp": str(timestamp), "webhook-signature": signature}
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(b'{"step": "closed"}', headers)
