"""Stand-ins for Aliyun SMS and Tencent Cloud SMS that check what the providers check: the request signature,
recomputed from the secret as each provider documents it (Aliyun ACS3-HMAC-SHA256, Tencent TC3-HMAC-SHA256,
written here from the specifications, not with the SDKs' code), the action and version, the signature name,
that the template is approved and gets exactly its parameters, within the length limits. They answer with the
providers' documented success and error bodies; a test can program an error for a number."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import ClassVar
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.notify.sms_templates import SmsTemplateTable


@dataclass
class SentSms:
    phone: str
    template_code: str
    params: dict[str, str] | list[str]
    sign_name: str
    message_id: str
    context: str  # Aliyun OutId / Tencent SessionContext


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class AliyunStandIn:
    """dysmsapi 2017-05-25 SendSms, RPC style, signature V3 (ACS3-HMAC-SHA256 over the canonical request)."""

    table: SmsTemplateTable
    access_key_id: str = "LTAI-test-key-id"
    access_key_secret: str = "aliyun-test-secret"
    sent: list[SentSms] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    programmed: dict[str, str] = field(default_factory=dict)  # phone -> error code to answer
    nonces: set[str] = field(default_factory=set)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    ERRORS: ClassVar[dict[str, str]] = {
        "isv.BUSINESS_LIMIT_CONTROL": "触发号码天级流控Permits:10",
        "isv.MOBILE_NUMBER_ILLEGAL": "非法手机号",
        "isv.SMS_TEMPLATE_ILLEGAL": "该账号下找不到对应模板",
        "isv.SMS_SIGNATURE_ILLEGAL": "该账号下找不到对应签名",
        "isv.TEMPLATE_MISSING_PARAMETERS": "模板变量缺少对应参数值",
        "isv.PARAM_LENGTH_LIMIT": "参数超出长度限制",
    }

    def __post_init__(self) -> None:
        self.approved = {t.code: t for t in self.table.templates["aliyun"].values()}
        self.app = Starlette(routes=[Route("/", self._send, methods=["POST", "GET"])])

    def to(self, phone: str) -> list[SentSms]:
        return [s for s in self.sent if s.phone == phone]

    def expected_signature(self, request: Request, body: bytes, signed_headers: list[str]) -> str:
        query = sorted((k, v) for k, v in request.query_params.multi_items())
        canonical_query = "&".join(f"{quote(k, safe='~')}={quote(v, safe='~')}" for k, v in query)
        headers = "".join(f"{name}:{request.headers.get(name, '').strip()}\n" for name in signed_headers)
        canonical = "\n".join(
            [
                request.method,
                request.url.path or "/",
                canonical_query,
                headers,
                ";".join(signed_headers),
                request.headers.get("x-acs-content-sha256", ""),
            ]
        )
        to_sign = f"ACS3-HMAC-SHA256\n{_sha256_hex(canonical.encode())}"
        return hmac.new(self.access_key_secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest()

    def _error(self, status: int, code: str, message: str) -> JSONResponse:
        request_id = str(uuid.uuid4()).upper()
        self.refused.append({"code": code, "message": message})
        body = {"RequestId": request_id, "Code": code, "Message": message}
        if status != 200:
            body["HostId"] = "dysmsapi.aliyuncs.com"
        return JSONResponse(body, status_code=status)

    async def _send(self, request: Request) -> JSONResponse:
        body = await request.body()
        match = re.fullmatch(
            r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]+)",
            request.headers.get("authorization", ""),
        )
        if match is None:
            return self._error(
                400, "IncompleteSignature", "The request signature does not conform to Aliyun standards."
            )
        key_id, signed, signature = match.groups()
        signed_headers = signed.split(";")
        required = {
            "host",
            "x-acs-action",
            "x-acs-content-sha256",
            "x-acs-date",
            "x-acs-signature-nonce",
            "x-acs-version",
        }
        if key_id != self.access_key_id:
            return self._error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if not required <= set(signed_headers) or signed_headers != sorted(signed_headers):
            return self._error(
                400, "IncompleteSignature", "The request signature does not conform to Aliyun standards."
            )
        if request.headers.get("x-acs-content-sha256") != _sha256_hex(body):
            return self._error(400, "IncompleteSignature", "The payload hash does not match the body.")
        if not hmac.compare_digest(signature, self.expected_signature(request, body, signed_headers)):
            return self._error(400, "SignatureDoesNotMatch", "Specified signature is not matched with our calculation.")
        nonce = request.headers["x-acs-signature-nonce"]
        if nonce in self.nonces:
            return self._error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self.nonces.add(nonce)
        if request.headers.get("x-acs-action") != "SendSms" or request.headers.get("x-acs-version") != "2017-05-25":
            return self._error(400, "InvalidAction.NotFound", "Specified api is not found, please check your url.")
        query = request.query_params
        phone = query.get("PhoneNumbers", "")
        if phone in self.programmed:
            code = self.programmed[phone]
            return self._error(200, code, self.ERRORS.get(code, code))
        if not re.fullmatch(r"1[3-9]\d{9}", phone):
            return self._error(200, "isv.MOBILE_NUMBER_ILLEGAL", self.ERRORS["isv.MOBILE_NUMBER_ILLEGAL"])
        if query.get("SignName") != self.table.sign_name:
            return self._error(200, "isv.SMS_SIGNATURE_ILLEGAL", self.ERRORS["isv.SMS_SIGNATURE_ILLEGAL"])
        template = self.approved.get(query.get("TemplateCode", ""))
        if template is None:
            return self._error(200, "isv.SMS_TEMPLATE_ILLEGAL", self.ERRORS["isv.SMS_TEMPLATE_ILLEGAL"])
        params = json.loads(query.get("TemplateParam") or "{}")
        if sorted(params) != sorted(template.names):
            return self._error(200, "isv.TEMPLATE_MISSING_PARAMETERS", self.ERRORS["isv.TEMPLATE_MISSING_PARAMETERS"])
        for name, source in zip(template.names, template.sources, strict=True):
            if len(str(params[name])) > self.table.limits["aliyun"][self.table.kinds[source]]:
                return self._error(200, "isv.PARAM_LENGTH_LIMIT", self.ERRORS["isv.PARAM_LENGTH_LIMIT"])
        biz_id = f"{next(self._ids):06d}{uuid.uuid4().int % 10**12:012d}^0"
        self.sent.append(SentSms(phone, template.code, params, query["SignName"], biz_id, query.get("OutId", "")))
        return JSONResponse({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": str(uuid.uuid4()).upper()})


def tc3_signature(secret_key: str, *, date: str, service: str, string_to_sign: str) -> str:
    def sign(key: bytes, msg: str) -> bytes:
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    secret_date = sign(("TC3" + secret_key).encode(), date)
    secret_signing = sign(sign(secret_date, service), "tc3_request")
    return hmac.new(secret_signing, string_to_sign.encode(), hashlib.sha256).hexdigest()


@dataclass
class TencentStandIn:
    """sms 2021-01-11 SendSms, signature v3 (TC3-HMAC-SHA256)."""

    table: SmsTemplateTable
    secret_id: str = "AKID-test-secret-id"
    secret_key: str = "tencent-test-secret-key"
    sdk_app_id: str = "1400000001"
    sent: list[SentSms] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)
    programmed: dict[str, str] = field(default_factory=dict)  # phone -> error code to answer
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))

    STATUS_ERRORS: ClassVar[dict[str, str]] = {
        "LimitExceeded.PhoneNumberThirtySecondLimit": "the number of sms messages sent from a single mobile number "
        "within 30 seconds exceeds the upper limit",
        "InvalidParameterValue.IncorrectPhoneNumber": "incorrect phone number",
    }
    REQUEST_ERRORS: ClassVar[dict[str, str]] = {
        "FailedOperation.TemplateIncorrectOrUnapproved": "template is not approved or request content does not match "
        "the approved template content",
        "FailedOperation.SignatureIncorrectOrUnapproved": "signature is not approved or the signature is invalid",
        "InvalidParameterValue.TemplateParameterLengthLimit": "the length of a single template variable parameter "
        "exceeds the upper limit",
        "RequestLimitExceeded": "request frequency exceeds the limit",
    }

    def __post_init__(self) -> None:
        self.approved = {t.code: t for t in self.table.templates["tencent"].values()}
        self.app = Starlette(routes=[Route("/", self._send, methods=["POST"])])

    def to(self, phone: str) -> list[SentSms]:
        return [s for s in self.sent if s.phone == phone]

    def _error(self, code: str, message: str) -> JSONResponse:
        self.refused.append({"code": code, "message": message})
        return JSONResponse({"Response": {"Error": {"Code": code, "Message": message}, "RequestId": str(uuid.uuid4())}})

    async def _send(self, request: Request) -> JSONResponse:
        body = await request.body()
        match = re.fullmatch(
            r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d{2}-\d{2})/([a-z]+)/tc3_request, "
            r"SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})",
            request.headers.get("authorization", ""),
        )
        if match is None:
            return self._error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
        secret_id, date, service, signed, signature = match.groups()
        if secret_id != self.secret_id:
            return self._error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        timestamp = int(request.headers.get("x-tc-timestamp", "0"))
        now = datetime.now(UTC)
        if (
            abs(now.timestamp() - timestamp) > 300
            or datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d") != date
        ):
            return self._error("AuthFailure.SignatureExpire", "Signature expired.")
        names = signed.split(";")
        if not {"content-type", "host"} <= set(names):
            return self._error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
        headers = "".join(f"{n}:{request.headers.get(n, '').strip().lower()}\n" for n in names)
        canonical = "\n".join(["POST", "/", request.url.query, headers, signed, _sha256_hex(body)])
        to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{date}/{service}/tc3_request\n{_sha256_hex(canonical.encode())}"
        expected = tc3_signature(self.secret_key, date=date, service=service, string_to_sign=to_sign)
        if service != "sms" or not hmac.compare_digest(signature, expected):
            return self._error("AuthFailure.SignatureFailure", "The provided credentials could not be validated.")
        if request.headers.get("x-tc-action") != "SendSms" or request.headers.get("x-tc-version") != "2021-01-11":
            return self._error("InvalidAction", "The action is not found.")
        payload = json.loads(body)
        numbers = payload.get("PhoneNumberSet") or []
        phone = numbers[0].removeprefix("+86") if numbers else ""
        if payload.get("SmsSdkAppId") != self.sdk_app_id:
            return self._error("InvalidParameterValue.SdkAppIdNotExist", "the SdkAppId does not exist")
        code = self.programmed.get(phone)
        if code in self.REQUEST_ERRORS:
            return self._error(code, self.REQUEST_ERRORS[code])
        if payload.get("SignName") != self.table.sign_name:
            return self._error(
                "FailedOperation.SignatureIncorrectOrUnapproved",
                self.REQUEST_ERRORS["FailedOperation.SignatureIncorrectOrUnapproved"],
            )
        template = self.approved.get(payload.get("TemplateId", ""))
        params = payload.get("TemplateParamSet") or []
        if template is None or len(params) != len(template.names):
            return self._error(
                "FailedOperation.TemplateIncorrectOrUnapproved",
                self.REQUEST_ERRORS["FailedOperation.TemplateIncorrectOrUnapproved"],
            )
        for value, source in zip(params, template.sources, strict=True):
            if len(value) > self.table.limits["tencent"][self.table.kinds[source]]:
                return self._error(
                    "InvalidParameterValue.TemplateParameterLengthLimit",
                    self.REQUEST_ERRORS["InvalidParameterValue.TemplateParameterLengthLimit"],
                )
        if code is None and not re.fullmatch(r"1[3-9]\d{9}", phone):
            code = "InvalidParameterValue.IncorrectPhoneNumber"
        serial = f"5000:{next(self._ids)}{uuid.uuid4().int % 10**18:018d}"
        status = {
            "SerialNo": serial if code is None else "",
            "PhoneNumber": numbers[0] if numbers else "",
            "Fee": 1 if code is None else 0,
            "SessionContext": payload.get("SessionContext", ""),
            "Code": code or "Ok",
            "Message": self.STATUS_ERRORS.get(code or "", "send success"),
            "IsoCode": "CN",
        }
        if code is None:
            self.sent.append(
                SentSms(phone, template.code, params, payload["SignName"], serial, payload.get("SessionContext", ""))
            )
        else:
            self.refused.append({"code": code, "message": status["Message"]})
        return JSONResponse({"Response": {"SendStatusSet": [status], "RequestId": str(uuid.uuid4())}})
