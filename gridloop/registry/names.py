"""Name pools for the generated registry and demo residents.

Street names are Jinniu's real streets; community names are plausible stems, not an official list.
"""

from __future__ import annotations

import random

# street name -> approximate centre (lat, lon) and relative size (communities are spread by weight)
STREETS: tuple[tuple[str, float, float, int], ...] = (
    ("西华街道", 30.722, 104.018, 9),
    ("茶店子街道", 30.702, 104.012, 8),
    ("营门口街道", 30.697, 104.031, 9),
    ("金泉街道", 30.716, 104.003, 8),
    ("沙河源街道", 30.728, 104.036, 8),
    ("天回镇街道", 30.748, 104.088, 8),
    ("凤凰山街道", 30.737, 104.061, 7),
    ("九里堤街道", 30.707, 104.051, 8),
    ("抚琴街道", 30.688, 104.037, 9),
    ("西安路街道", 30.684, 104.052, 8),
    ("驷马桥街道", 30.701, 104.093, 8),
    ("荷花池街道", 30.694, 104.079, 9),
    ("五块石街道", 30.714, 104.077, 9),
)

COMMUNITY_STEMS: tuple[str, ...] = tuple(
    "花照壁 金科 蜀西 锦城 五福桥 马鞍东路 赛云台 天回 金华 木龙湾 九里堤北路 府河 兴盛 泉水 银沙"
    " 光荣 沙湾 曹家巷 一环路北 荷花池 长久 西体路 蓉北 北站 凤凰山 同德 蓉都 人民北路 茶店子 营康"
    " 星辰 韦家碾 马鞍北路 交大路 金泉 土桥 大石桥 抚琴西路 金鱼 西安中路 白马寺 青龙 洞子口 石门 黄忠"
    " 欢乐谷 金府 蜀汉 羊西 一品天下 营门口 花牌坊 西华 两河 高家 友联 万担 金丰 双水碾 沙河源 驷马桥"
    " 建材路 李家沱 解放路 簸箕街 王贾桥 北新 红花堰 永陵 文家 银河 金牛坝 兴科 梁家巷 会展 量力"
    " 五块石 正通顺 新桥 肖家村 天龙 保和 金沙 柳荫 茶花 九里堤南路 金琴 新村河 蓉西 培风 抚琴东"
    " 金房苑 西月城 星科 奥林 新一村 龙湖 友谊 碧水 东林 桃源 高桥 人民渠 胜利 和平 长庆 铁路新村"
    " 春熙苑 群力 望丛".split()
)

ROADS: tuple[str, ...] = tuple(
    "蜀汉路 一品天下大街 羊西线 金府路 交大路 沙湾路 马鞍北路 人民北路二段 解放路一段 九里堤南路"
    " 金丰路 兴科南路 营门口路 抚琴西路 西安中路 二环路北一段 茶店子东街 金泉路 天回路 凤凰大道"
    " 五块石路 荷花池街 驷马桥路 北站西一路".split()
)

SURNAMES: tuple[str, ...] = tuple(
    "王 李 张 刘 陈 杨 黄 赵 吴 周 徐 孙 马 朱 胡 郭 何 林 罗 高 郑 梁 谢 宋 唐 许 邓 冯 韩 曹 彭 曾"
    " 肖 田 董 潘 袁 蒋 蔡 余 杜 叶 程 魏 苏 吕 丁 任 卢 姚 沈 钟 姜 崔 谭 陆 范 汪 廖 石 金 韦 贾 夏"
    " 付 方 邹 熊 白 孟 秦 邱 侯 江 尹 薛 闫 段 雷 龙".split()
)

GIVEN_CHARS: tuple[str, ...] = tuple(
    "伟 芳 娜 敏 静 丽 强 磊 军 洋 勇 艳 杰 娟 涛 明 超 秀 霞 平 刚 桂 英 华 玉 兰 萍 红 鹏 辉 建 国"
    " 文 斌 琴 蓉 川 渝 梅 莉 婷 雪 燕 凤 春 晓 宇 浩 欣 怡 佳 俊 志 海 波 林 丹 倩 瑶 思 雨 晨 成 蜀".split()
)

_MOBILE_PREFIXES: tuple[str, ...] = tuple(
    "130 131 132 135 136 137 138 139 150 151 152 155 156 157 158 159 166 173 177 180 181 182 183 186"
    " 187 188 189 199".split()
)


def person_name(rng: random.Random) -> str:
    """A Chinese full name: surname plus one or two given characters."""
    given = rng.choice(GIVEN_CHARS) + (rng.choice(GIVEN_CHARS) if rng.random() < 0.7 else "")
    return rng.choice(SURNAMES) + given


def mobile(rng: random.Random) -> str:
    """An 11-digit mainland mobile number, 1[3-9]xxxxxxxxx."""
    return rng.choice(_MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"
