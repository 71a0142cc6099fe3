"""Where a grid worker sends a resident whose report is not on the admission list, by not-admitted reason: what the
worker tells the resident instead (Chinese, shown to workers)."""

from __future__ import annotations

from gridloop.admission.examples import NOT_ADMITTED_REASONS

REFERRALS_ZH: dict[str, str] = {
    "CERT_ABOLISHED": "该证明已取消，请告知居民无需社区出具；确需证明的，到有关部门按告知承诺制办理，或拨打12345咨询",
    "PRIVATE_SERVICE": "请建议居民联系物业服务企业或正规家政、维修、开锁服务机构",
    "CONSUMER_DISPUTE": "请告知居民拨打12315或登录全国12315平台投诉，网购纠纷可先向购物平台投诉",
    "PUSHED_DOWN_TASK": "社区不承接此类摊派任务，请报街道社区减负工作专班",
    "COMMERCIAL": "社区不为商业活动提供协助，请告知来访者自行联系相关机构",
    "OUT_OF_SCOPE": "请告知居民拨打12345市民服务热线，由热线转交有关部门办理",
}
NOT_ADMITTED_PREFIX = "不属于社区工作准入事项："

assert REFERRALS_ZH.keys() == NOT_ADMITTED_REASONS.keys(), "every not-admitted reason says where to go instead"


def reason_code_of(note: str) -> str | None:
    """The reason code of a not-admitted note as the classifier writes it (`不属于社区工作准入事项：<reason>`)."""
    text = note.removeprefix(NOT_ADMITTED_PREFIX)
    return next((code for code, reason in NOT_ADMITTED_REASONS.items() if reason == text), None)


def referral_for(note: str, reason_code: str | None = None) -> str:
    """Where to send the resident instead; the general hotline when the reason is not one of the list's."""
    code = reason_code or reason_code_of(note)
    return REFERRALS_ZH.get(code or "OUT_OF_SCOPE", REFERRALS_ZH["OUT_OF_SCOPE"])
