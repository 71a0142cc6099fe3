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
    # The off-list families of issue #24.
    "UTILITY_BILLING": "请告知居民联系供电公司（国网95598）、自来水公司或燃气公司客服处理缴费、账单和抄表问题",
    "TELECOM": "请告知居民拨打运营商客服（电信10000、移动10086、联通10010），未解决的可向工信部12300申诉",
    "PUBLIC_TRANSPORT": "请告知居民拨打交通运输服务监督电话12328投诉公交、地铁、出租车和网约车问题",
    "SCHOOL_ENROLMENT": "请告知居民向所在学校或区教育局咨询入学、转学和学校管理问题",
    "HOSPITAL_MEDICAL": "请告知居民向医院医务科反映，或拨打卫生健康热线12320；医保报销问题到医保经办机构办理",
    "BANKING": "请告知居民联系开户银行客服，未解决的可拨打金融消费者投诉热线12378",
    "VEHICLE_ADMIN": "请告知居民通过交管12123 App或到车管所、交警大队办理驾驶证、车辆和违章业务",
    "HOUSING_MARKET": "请告知居民向区住建局反映商品房、中介和房产证问题，或拨打12345",
    "WAGE_DISPUTE": "请告知居民向劳动保障监察投诉（12333）或申请劳动仲裁",
    "EMPLOYEE_PENSION": "请告知居民到社保经办机构咨询职工养老保险和退休待遇（12333）",
    "BUSINESS_REGISTRATION": "请告知居民到市场监管局或政务服务中心办理企业登记，税务问题拨打12366",
    "CIVIL_LITIGATION": "请告知居民向人民法院起诉，或拨打法律援助热线12348申请法律援助",
    "POSTAL_DELIVERY": "请告知居民先联系快递公司，未解决的可向邮政业申诉（12305）",
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
