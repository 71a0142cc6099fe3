"""The Aliyun and Tencent SMS adapters send through the providers' own SDKs, over real HTTP, to stand-ins that
recompute each request's signature from the secret and check the template, its parameters and the signature name
(tests/support/sms_provider_standins.py); the providers' documented errors become transient or permanent."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gridloop.servicekit.clock import FixedClock
from services.notify.channels import OutgoingMessage, PermanentError, TransientError
from services.notify.sms_providers import AliyunSms, Deferred, ProviderLimits, TencentSms
from services.notify.sms_templates import SmsTemplateTable
from tests.support.notify_standins import serving
from tests.support.sms_provider_standins import AliyunStandIn, TencentStandIn

pytestmark = pytest.mark.integration

TABLE = SmsTemplateTable.load(
    Path("services/notify/templates/sms-templates.json"), public_base_url="https://grid.example.cn"
)
NO_LIMITS = ProviderLimits(requests_per_second=1000, per_number=())


def message(step: str, phone: str, **context: object) -> OutgoingMessage:
    values: dict = {
        "case_no": "3F2A9C01BE",
        "item_name": "楼道堆放杂物",
        "department_name": "街道办事处",
        "resolve_hours": 72,
        "reason": "",
        "result": "已清理完毕",
        **context,
    }
    link = "https://grid.example.cn/c/TrackingToken22chars__"
    if step == "resolved":
        link += "?t=FeedbackToken22chars__"
    return OutgoingMessage(
        idempotency_key=str(uuid.uuid4()),
        channel="sms",
        step=step,
        body="",
        resident={"phone": phone},
        case_id=str(uuid.uuid4()),
        link=link,
        context=values,
    )


@pytest.fixture
async def aliyun() -> AsyncIterator[tuple[AliyunStandIn, str]]:
    standin = AliyunStandIn(TABLE)
    async with serving(standin.app) as url:
        yield standin, url.removeprefix("http://")


@pytest.fixture
async def tencent() -> AsyncIterator[tuple[TencentStandIn, str]]:
    standin = TencentStandIn(TABLE)
    async with serving(standin.app) as url:
        yield standin, url.removeprefix("http://")


def aliyun_sms(endpoint: str, *, secret: str = "aliyun-test-secret", limits: ProviderLimits = NO_LIMITS, clock=None):
    return AliyunSms(
        TABLE,
        limits,
        access_key_id="LTAI-test-key-id",
        access_key_secret=secret,
        endpoint=endpoint,
        protocol="http",
        **({"clock": clock} if clock else {}),
    )


def tencent_sms(
    endpoint: str, *, secret: str = "tencent-test-secret-key", limits: ProviderLimits = NO_LIMITS, clock=None
):
    return TencentSms(
        TABLE,
        limits,
        secret_id="AKID-test-secret-id",
        secret_key=secret,
        sdk_app_id="1400000001",
        endpoint=endpoint,
        protocol="http",
        **({"clock": clock} if clock else {}),
    )


async def test_aliyun_sends_each_step_as_its_approved_template_with_named_parameters(aliyun) -> None:
    standin, endpoint = aliyun
    sms = aliyun_sms(endpoint)
    for step in ("received", "forwarded", "not_admitted", "signed", "resolved", "reopened", "closed"):
        biz_id = await sms.send(message(step, "13912340001", reason="属于司法调解事项，请到街道司法所申请调解"))
        assert biz_id == standin.sent[-1].message_id
    assert [s.template_code for s in standin.to("13912340001")] == [f"SMS_48001000{i}" for i in range(1, 8)]
    resolved = standin.to("13912340001")[4]
    assert resolved.params == {
        "case_no": "3F2A9C01BE",
        "result": "已清理完毕",
        "token": "TrackingToken22chars__",
        "feedback": "FeedbackToken22chars__",
    }
    assert resolved.sign_name == "金牛网格"
    not_admitted = standin.to("13912340001")[2]
    assert not_admitted.params["reason"] == "属于司法调解事项，请到街道司法所申请调解"  # 20 characters: within 35


async def test_aliyun_refuses_a_request_signed_with_the_wrong_secret_and_the_adapter_does_not_retry_it(aliyun) -> None:
    standin, endpoint = aliyun
    with pytest.raises(PermanentError, match="SignatureDoesNotMatch"):
        await aliyun_sms(endpoint, secret="not-the-secret").send(message("received", "13912340002"))
    assert standin.sent == [] and standin.refused[-1]["code"] == "SignatureDoesNotMatch"


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("isv.BUSINESS_LIMIT_CONTROL", TransientError),
        ("isv.MOBILE_NUMBER_ILLEGAL", PermanentError),
        ("isv.SMS_TEMPLATE_ILLEGAL", PermanentError),
    ],
)
async def test_aliyun_documented_errors_map_to_transient_or_permanent(aliyun, code: str, kind: type) -> None:
    standin, endpoint = aliyun
    standin.programmed["13912340003"] = code
    with pytest.raises(kind, match=re.escape(code)) as raised:
        await aliyun_sms(endpoint).send(message("received", "13912340003"))
    if kind is PermanentError:
        assert not isinstance(raised.value, TransientError)


async def test_aliyun_long_text_parameters_are_shortened_to_the_limit(aliyun) -> None:
    standin, endpoint = aliyun
    reason = "该事项属于市场监管部门职责范围，请居民直接拨打12345市民服务热线或前往区市场监督管理局窗口办理相关投诉"
    await aliyun_sms(endpoint).send(message("not_admitted", "13912340004", reason=reason))
    sent = standin.to("13912340004")[0].params["reason"]
    assert len(sent) == 35 and sent.endswith("…") and reason.startswith(sent[:-1])


async def test_a_number_over_the_limit_is_refused_before_it_reaches_the_provider(aliyun) -> None:
    standin, endpoint = aliyun
    with pytest.raises(PermanentError, match="case_no"):
        await aliyun_sms(endpoint).send(message("received", "13912340005", case_no="X" * 36))
    assert standin.to("13912340005") == []


async def test_tencent_sends_each_step_as_its_approved_template_with_positional_parameters(tencent) -> None:
    standin, endpoint = tencent
    sms = tencent_sms(endpoint)
    for step in ("received", "forwarded", "signed", "resolved", "closed"):
        serial = await sms.send(message(step, "13912340011"))
        assert serial == standin.sent[-1].message_id
    sent = standin.to("13912340011")
    assert [s.template_code for s in sent] == ["2100001", "2100002", "2100004", "2100005", "2100007"]
    assert sent[1].params == ["3F2A9C01BE", "街道办事处", "72"]
    assert all(s.sign_name == "金牛网格" for s in sent)


async def test_tencent_refuses_a_request_signed_with_the_wrong_secret(tencent) -> None:
    standin, endpoint = tencent
    with pytest.raises(PermanentError, match=r"AuthFailure\.SignatureFailure"):
        await tencent_sms(endpoint, secret="wrong").send(message("received", "13912340012"))
    assert standin.sent == []


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("LimitExceeded.PhoneNumberThirtySecondLimit", TransientError),
        ("RequestLimitExceeded", TransientError),
        ("InvalidParameterValue.IncorrectPhoneNumber", PermanentError),
        ("FailedOperation.TemplateIncorrectOrUnapproved", PermanentError),
    ],
)
async def test_tencent_documented_errors_map_to_transient_or_permanent(tencent, code: str, kind: type) -> None:
    standin, endpoint = tencent
    standin.programmed["13912340013"] = code
    with pytest.raises(kind, match=re.escape(code)) as raised:
        await tencent_sms(endpoint).send(message("received", "13912340013"))
    if kind is PermanentError:
        assert not isinstance(raised.value, TransientError)


async def test_tencent_text_parameters_are_shortened_to_six_characters(tencent) -> None:
    standin, endpoint = tencent
    await tencent_sms(endpoint).send(message("signed", "13912340014", department_name="金牛区住房和城乡建设局"))
    assert standin.to("13912340014")[0].params[0] == "金牛区住房…"


async def test_a_provider_that_cannot_be_reached_is_a_transient_error() -> None:
    from tests.support.notify_standins import free_port

    endpoint = f"127.0.0.1:{free_port()}"
    with pytest.raises(TransientError):
        await aliyun_sms(endpoint).send(message("received", "13912340015"))
    with pytest.raises(TransientError):
        await tencent_sms(endpoint).send(message("received", "13912340015"))


async def test_the_per_number_limit_defers_the_next_message_until_the_window_allows_it(tencent) -> None:
    standin, endpoint = tencent
    now = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    sms = tencent_sms(endpoint, limits=ProviderLimits(1000, ((30, 1), (86400, 3))), clock=FixedClock(now))
    await sms.send(message("received", "13912340016"))
    with pytest.raises(Deferred) as deferred:
        await sms.send(message("forwarded", "13912340016"))
    assert deferred.value.retry_at == now + timedelta(seconds=30)
    assert len(standin.to("13912340016")) == 1  # the deferred one never reached the provider
    await sms.send(message("forwarded", "13912340017"))  # another number is not held back


async def test_officials_get_their_escalation_template_from_either_provider(aliyun, tencent) -> None:
    context = {
        "case_no": "3F2A9C01BE",
        "department_name": "街道办事处",
        "what": "办结超时3小时20分钟",
        "level_name": "分管领导",
    }
    for (_standin, endpoint), sms in ((aliyun, aliyun_sms), (tencent, tencent_sms)):
        await sms(endpoint).send(message("official_escalated", "13912340021", **context))
    assert aliyun[0].to("13912340021")[0].params == {
        "case_no": "3F2A9C01BE",
        "department": "街道办事处",
        "what": "办结超时3小时20分钟",
        "level": "分管领导",
    }
    assert tencent[0].to("13912340021")[0].params == ["3F2A9C01BE", "街道办事处", "分管领导"]
