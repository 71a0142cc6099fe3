"""Danger signals: words that make a report a matter for the police whatever else it reads like.

A dispute that has turned violent (P05) sent to street-office mediation, domestic violence (P06) treated as a
family quarrel, a psychotic episode (P09) as an elderly-care visit: the costliest confusions the router can make
(see COSTS). A report that carries a weapon, a threat to life, a violent injury, or a child or elderly person in
harm's way is therefore never forwarded outside the police nor refused: it goes to the police with the flag, or
to an operator. The patterns are deliberately narrow (a held in hand weapon, not a kitchen; 打伤, not 摔倒), so
that routine reports are not escalated; the classifier's own probabilities still pick the police item.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# kind -> pattern over the NFKC-normalised, lower-cased text
_SIGNALS: dict[str, re.Pattern[str]] = {
    "weapon": re.compile(
        r"(拿|提|持|举|抄|掏|握|带|亮|摸)(着|起|出|了)?(把|根|个|起)?"
        r"(菜刀|砍刀|刀子|尖刀|水果刀|匕首|西瓜刀|剪刀|刀|斧头|斧子|铁棍|钢管|铁锤|锤子|棍子|棒子|扁担|枪|板砖|酒瓶)"
        r"|菜刀|砍刀|匕首|西瓜刀|斧头|枪支|猎枪|土枪|硫酸|汽油瓶|浇汽油|泼汽油|炸药|雷管|动刀|动了刀"
        r"|(刀|剪刀|酒瓶|板砖|砖头|锤子|棍子)(砍|捅|戳|砸|敲|打)(人|伤|了?(他|她|我|对方|头|脑壳))"
    ),
    "threat": re.compile(
        r"弄死|整死|砍死|打死|捅死|掐死|搞死|宰了(他|她|你|人)|杀了(他|她|你|人|对方|全家)|杀人|杀掉|要杀|杀你|砍你|捅你|"
        r"要(他|她|你|对方)的?命|同归于尽|报复|扬言|放火|纵火|烧死|点火烧|烧房子|"
        r"(要|想|扬言|说要|闹着|差点|准备)(去)?(跳楼|跳河|跳江|跳桥|上吊|喝农药|割腕)|跳楼(?!价)|跳河|跳江|"
        r"寻死|寻短见|轻生|不想活|自杀|自残|自伤|割腕|喝农药|"
        r"收拾(了)?(他|她|你|对方|一家)|(让|要)(他|她|你|对方)好看|烧(了|掉)(他|她|你|对方|对门|人家|邻居|别人)(家)?的?(车|房子|屋)|(威胁|恐吓)(要|说|他|她|我|对方|人|全家)|"
        r"(要|说要|扬言要?)(砍|捅|打断|废了)|(闹着|喊着|吵着|喊)要?跳(楼|下去|河)?(?!舞|绳|远|高)|(楼顶|天台|阳台|窗台|窗户|桥上|楼边).{0,4}(要跳|往下跳)"
    ),
    "injury": re.compile(
        r"打伤|砍伤|捅伤|刺伤|咬伤|烫伤(了)?(娃娃|孩子|小孩)|打(得|到|成)?(头破|出血|流血|骨折|住院|昏|进医院)|"
        r"头(被)?(打|撞|砸)?破|头破血流|流(了)?(好多|很多|一地)?血|满(脸|身|头|手|地)(都)?(是)?血|一(脸|身|地)(的)?血|"
        r"鼻血|血(流|糊)|见了?血|青一块紫一块|鼻青脸肿|(浑身|身上|脸上|手上|到处)(都)?(是)?(伤|淤青)|伤痕|淤青|不省人事|"
        r"打(得|到)?(起不来|爬不起来|送医)|送(去)?医院(抢救|缝)|缝了.{0,2}针"
    ),
    "person_at_risk": re.compile(
        r"(娃娃|娃儿|孩子|小孩|小娃|儿童|女娃|男娃|老人|老汉|老太婆|婆婆|爷爷|奶奶|老太太|老爷子|老头)"
        r".{0,5}(被打|挨打|被关|被锁|关在|锁在|虐待|被拴|被遗弃|被拐|拐走|不给饭|饿得|饿晕|被赶出|赶出|被扔|被骂|被推)"
        r"|把(他|她)?(妈|爸|老人|娃娃|娃儿|孩子|小孩|老婆|媳妇|老公|婆婆|爷爷|奶奶|老汉)(关|锁)在|虐待|遗弃|拐卖|拐骗|绑架|劫持|性侵|猥亵|强奸|(打|揍|锤|踢|掐)(娃娃|娃儿|孩子|小孩|老人|老汉|婆婆|妈|老妈|老娘|老汉儿)"
    ),
    "violence": re.compile(
        r"家暴|家庭暴力|动手打|动了手|动手了|打(老婆|婆娘|媳妇|老公|男人|女人|妻子|丈夫)|拳打脚踢|掐(脖子|住|人|她|他|我)|"
        r"推下楼|持械|斗殴|群殴|互殴|扭打|打群架|打起来|打架|干起来|打人|打了(他|她|我|人|一顿|起来|一架)|"
        r"锤人|锤了(他|她|我|人|一顿)|捶(了|人)|砍人|捅人|捅了|扇(了)?(他|她|我)?.{0,2}耳光|踹(了|人|她|他|我)|"
        r"被.{1,4}(打了|打伤|打得|打成|揍了|揍得|踢了|锤了|掐了|砍了)|挨了?打|挨揍|遭.{0,3}(锤|打|揍|砍|捅)了|(锤|打|揍)了.{0,2}(几|一)(拳|脚|下)|(?<!针)(锤|打)肿|砸(人|过路|路人)|(皮带|棍子|衣架|鞭子)(抽|打)|推倒在地|砸东西|抢劫|抢包|持刀|"
        r"被(继父|后爸|后妈|继母|老公|老婆|男人|丈夫|妻子|爸爸?|妈妈?|父亲|母亲|儿子|女儿|男朋友|女朋友|对象|前夫|家里人|他|她)(打|揍|踢|锤|掐)"
    ),
}


@dataclass(frozen=True, slots=True)
class DangerSignal:
    kind: str  # weapon | threat | injury | person_at_risk | violence
    text: str  # the words that matched

    def __str__(self) -> str:
        return f"{self.kind}:{self.text}"


def danger_signals(text: str) -> list[DangerSignal]:
    """Every danger signal in a report, in order of kind; empty for a routine report."""
    norm = unicodedata.normalize("NFKC", text).lower()
    found: list[DangerSignal] = []
    for kind, pattern in _SIGNALS.items():
        match = pattern.search(norm)
        if match:
            found.append(DangerSignal(kind, match.group(0)))
    return found
