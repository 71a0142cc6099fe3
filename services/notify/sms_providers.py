"""Residents' SMS through carrier-connected providers, with their official SDKs: Aliyun SMS (dysmsapi 2017-05-25,
`alibabacloud-dysmsapi20170525`, requests signed ACS3-HMAC-SHA256) and Tencent Cloud SMS (2021-01-11,
`tencentcloud-sdk-python-sms`, requests signed TC3-HMAC-SHA256). Both send approved templates only: a step's
template code and its parameters (sms_templates.py), under an approved signature name.

What each answers is mapped to our two failure kinds: throttling, balance and server errors are transient (retried
with backoff); an invalid number, a template or signature not approved and bad credentials are permanent. Limits are
respected before sending: the request rate (a token bucket) and messages per number per window (`Deferred`: the
message waits, it does not spend an attempt)."""

from __future__ import annotations

import asyncio
import json
import time
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from alibabacloud_dysmsapi20170525 import models as dysms
from alibabacloud_dysmsapi20170525.client import Client as AliyunClient
from alibabacloud_tea_openapi import exceptions as aliyun_errors
from alibabacloud_tea_openapi.utils_models import Config as AliyunConfig
from darabonba.exceptions import UnretryableException
from darabonba.runtime import RuntimeOptions
from tencentcloud.common.credential import Credential as TencentCredential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile
from tencentcloud.sms.v20210111 import models as tencent_models
from tencentcloud.sms.v20210111.sms_client_async import SmsClient as TencentClient

from gridloop.servicekit.clock import SYSTEM_CLOCK, Clock
from services.notify.channels import OutgoingMessage, PermanentError, TransientError
from services.notify.sms_templates import ParameterTooLong, Provider, SmsTemplateTable, message_values

# Aliyun SendSms answers HTTP 200 with a business code; these are worth retrying later.
ALIYUN_TRANSIENT = frozenset(
    {
        "isv.BUSINESS_LIMIT_CONTROL",  # 业务限流 (per-number flow control)
        "isv.DAY_LIMIT_CONTROL",
        "isv.AMOUNT_NOT_ENOUGH",  # 账户余额不足: sends once topped up
        "isv.OUT_OF_SERVICE",  # 业务停机 (arrears)
        "isp.SYSTEM_ERROR",
        "isp.GATEWAY_ERROR",
        "Throttling.User",
        "Throttling.Api",
        "Throttling",
        "ServiceUnavailable",
        "InternalError",
    }
)
# Tencent answers either a whole-request error or a status per number; these are worth retrying later.
TENCENT_TRANSIENT_PREFIXES = (
    "LimitExceeded.PhoneNumberThirtySecondLimit",
    "LimitExceeded.PhoneNumberOneHourLimit",
    "LimitExceeded.PhoneNumberDailyLimit",
    "LimitExceeded.PhoneNumberSameContentDailyLimit",
    "LimitExceeded.DailyLimit",
    "LimitExceeded.AppDailyLimit",
    "LimitExceeded.AppGlobalDailyLimit",
    "RequestLimitExceeded",
    "InternalError",
    "FailedOperation.InsufficientBalanceInSmsPackage",
    "ServerNetworkError",
    "ClientNetworkError",
)


class Deferred(TransientError):
    """Sending now would exceed a provider's per-number limit: try again at `retry_at` (no attempt spent)."""

    def __init__(self, reason: str, retry_at: datetime) -> None:
        super().__init__(reason)
        self.retry_at = retry_at


@dataclass(frozen=True)
class ProviderLimits:
    """A provider's limits as configured for the account: requests per second, and messages one number may receive
    per window (`(seconds, count)` pairs)."""

    requests_per_second: float
    per_number: tuple[tuple[int, int], ...]


# The providers' documented defaults (docs/notify.md); an account with other limits configures its own.
DEFAULT_LIMITS: dict[str, ProviderLimits] = {
    "aliyun": ProviderLimits(requests_per_second=500, per_number=((86400, 40),)),
    "tencent": ProviderLimits(requests_per_second=500, per_number=((30, 1), (86400, 10))),
}


class RequestRate:
    """A token bucket: at most `per_second` requests a second, bursts up to one second's worth."""

    def __init__(
        self,
        per_second: float,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._sleep = sleep
        self._rate = per_second
        self._capacity = max(per_second, 1.0)
        self._tokens = self._capacity
        self._monotonic = monotonic
        self._last = monotonic()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._monotonic()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._rate)
        self._last = now

    async def acquire(self) -> None:
        async with self._lock:
            self._refill()
            while self._tokens < 1 - 1e-9:  # with a tolerance: float sums of the refill fall short of 1 by an ulp
                await self._sleep((1 - self._tokens) / self._rate)
                self._refill()
            self._tokens = max(self._tokens - 1, 0.0)


class PerNumberLimit:
    """Messages sent to each number in sliding windows; `retry_at` is when the next one may go.

    Kept in the process: with several notify replicas each counts its own sends, and the provider's own flow control
    (mapped to a transient error) remains the backstop."""

    def __init__(self, windows: tuple[tuple[int, int], ...]) -> None:
        self._windows = windows
        self._longest = max((seconds for seconds, _ in windows), default=0)
        self._sent: dict[str, deque[datetime]] = defaultdict(deque)

    def retry_at(self, phone: str, now: datetime) -> datetime | None:
        sent = self._sent.get(phone)
        if not sent:
            return None
        while sent and sent[0] <= now - timedelta(seconds=self._longest):
            sent.popleft()
        latest: datetime | None = None
        for seconds, count in self._windows:
            window = [at for at in sent if at > now - timedelta(seconds=seconds)]
            if len(window) >= count:
                free_at = window[-count] + timedelta(seconds=seconds)
                latest = free_at if latest is None or free_at > latest else latest
        return latest

    def record(self, phone: str, at: datetime) -> None:
        self._sent[phone].append(at)


class _TemplatedSms(ABC):
    provider: Provider

    def __init__(
        self,
        table: SmsTemplateTable,
        limits: ProviderLimits,
        *,
        sign_name: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._table = table
        self._sign_name = sign_name or table.sign_name
        self._rate = RequestRate(limits.requests_per_second)
        self._per_number = PerNumberLimit(limits.per_number)
        self._clock = clock

    def _parameters(self, message: OutgoingMessage) -> tuple[str, list[tuple[str, str]]]:
        template = self._table.template(self.provider, message.step)
        try:
            params = self._table.parameters(self.provider, message.step, message_values(message.context, message.link))
        except ParameterTooLong as exc:
            raise PermanentError(str(exc)) from exc
        return template.code, params

    async def send(self, message: OutgoingMessage) -> str | None:
        phone = message.resident.get("phone") or ""
        if not phone:
            raise PermanentError("resident chose SMS but gave no phone number")
        now = self._clock.now()
        retry_at = self._per_number.retry_at(phone, now)
        if retry_at is not None:
            raise Deferred(f"{self.provider} per-number limit reached", retry_at)
        code, params = self._parameters(message)
        await self._rate.acquire()
        message_id = await self._send(phone, code, params, message)
        self._per_number.record(phone, now)
        return message_id

    @abstractmethod
    async def _send(self, phone: str, code: str, params: list[tuple[str, str]], message: OutgoingMessage) -> str:
        """Send through the provider's SDK; the provider's message id."""


class AliyunSms(_TemplatedSms):
    """Aliyun SMS: SendSms with TemplateCode, TemplateParam (a JSON object by parameter name), SignName and OutId
    (our idempotency key, echoed in receipts). The answer's BizId names the message in receipts."""

    provider: Provider = "aliyun"

    def __init__(
        self,
        table: SmsTemplateTable,
        limits: ProviderLimits,
        *,
        access_key_id: str,
        access_key_secret: str,
        endpoint: str = "dysmsapi.aliyuncs.com",
        protocol: str = "https",
        timeout_seconds: float = 5.0,
        sign_name: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(table, limits, sign_name=sign_name, clock=clock)
        millis = int(timeout_seconds * 1000)
        self._client = AliyunClient(
            AliyunConfig(
                access_key_id=access_key_id,
                access_key_secret=access_key_secret,
                endpoint=endpoint,
                protocol=protocol,
                read_timeout=millis,
                connect_timeout=millis,
            )
        )
        self._runtime = RuntimeOptions(autoretry=False, read_timeout=millis, connect_timeout=millis)

    async def _send(self, phone: str, code: str, params: list[tuple[str, str]], message: OutgoingMessage) -> str:
        request = dysms.SendSmsRequest(
            phone_numbers=phone,
            sign_name=self._sign_name,
            template_code=code,
            template_param=json.dumps(dict(params), ensure_ascii=False),
            out_id=message.idempotency_key.replace("-", ""),
        )
        try:
            response = await self._client.send_sms_with_options_async(request, self._runtime)
        except aliyun_errors.ThrottlingException as exc:
            raise TransientError(f"aliyun throttled: {exc.code}") from exc
        except aliyun_errors.ServerException as exc:
            raise TransientError(f"aliyun answered {exc.status_code}: {exc.code}") from exc
        except aliyun_errors.ClientException as exc:
            if exc.code in ALIYUN_TRANSIENT:
                raise TransientError(f"aliyun: {exc.code}") from exc
            raise PermanentError(f"aliyun refused: {exc.code} {exc.message}") from exc
        except aliyun_errors.AlibabaCloudException as exc:
            raise TransientError(f"aliyun: {exc.code}") from exc
        except (UnretryableException, OSError, TimeoutError) as exc:  # the SDK wraps connection errors and timeouts
            raise TransientError(f"aliyun unreachable: {type(exc).__name__}") from exc
        body = response.body
        if body is None or body.code != "OK":
            code_ = body.code if body else "empty answer"
            if code_ in ALIYUN_TRANSIENT:
                raise TransientError(f"aliyun: {code_}")
            raise PermanentError(f"aliyun refused: {code_} {body.message if body else ''}")
        return str(body.biz_id)


class TencentSms(_TemplatedSms):
    """Tencent Cloud SMS: SendSms with SmsSdkAppId, SignName, TemplateId and TemplateParamSet (positional), the
    idempotency key as SessionContext (echoed in receipts). The status's SerialNo names the message in receipts."""

    provider: Provider = "tencent"

    def __init__(
        self,
        table: SmsTemplateTable,
        limits: ProviderLimits,
        *,
        secret_id: str,
        secret_key: str,
        sdk_app_id: str,
        region: str = "ap-guangzhou",
        endpoint: str = "sms.tencentcloudapi.com",
        protocol: str = "https",
        timeout_seconds: float = 5.0,
        sign_name: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(table, limits, sign_name=sign_name, clock=clock)
        profile = ClientProfile(
            httpProfile=HttpProfile(protocol=protocol, endpoint=endpoint, reqTimeout=int(max(timeout_seconds, 1)))
        )
        self._client = TencentClient(TencentCredential(secret_id, secret_key), region, profile)
        self._sdk_app_id = sdk_app_id

    async def _send(self, phone: str, code: str, params: list[tuple[str, str]], message: OutgoingMessage) -> str:
        request = tencent_models.SendSmsRequest()
        request.PhoneNumberSet = [f"+86{phone}"]
        request.SmsSdkAppId = self._sdk_app_id
        request.SignName = self._sign_name
        request.TemplateId = code
        request.TemplateParamSet = [value for _, value in params]
        request.SessionContext = message.idempotency_key
        try:
            response = await self._client.SendSms(request)
        except TencentCloudSDKException as exc:
            raise _tencent_error(exc.code or "", exc.message or "") from exc
        except (OSError, TimeoutError) as exc:
            raise TransientError(f"tencent unreachable: {type(exc).__name__}") from exc
        except Exception as exc:  # httpx transport errors are not OSErrors
            if type(exc).__module__.startswith("httpx"):
                raise TransientError(f"tencent unreachable: {type(exc).__name__}") from exc
            raise
        statuses = response.SendStatusSet or []
        if not statuses:
            raise TransientError("tencent answered without a send status")
        status = statuses[0]
        if status.Code != "Ok":
            raise _tencent_error(status.Code or "", status.Message or "")
        return str(status.SerialNo)


def _tencent_error(code: str, message: str) -> TransientError | PermanentError:
    if code.startswith(TENCENT_TRANSIENT_PREFIXES):
        return TransientError(f"tencent: {code}")
    return PermanentError(f"tencent refused: {code} {message}")
