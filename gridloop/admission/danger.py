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
        r"(拿|提|持|举|抄|掏|握|带)(着|起|出|了)?(把|根|个)?(菜刀|砍刀|刀子|尖刀|水果刀|匕首|刀|斧头|铁棍|钢管|棍子|棒子|枪)"
        r"|菜刀|砍刀|匕首|斧头|枪支|猎枪|硫酸|汽油瓶|浇汽油|炸药|雷管"
    ),
    "threat": re.compile(
        r"弄死|整死|砍死|杀了(他|她|你|人|对方)|杀人|杀掉|要(他|她|你|对方)的?命|同归于尽|报复|扬言|放火|烧死|点火烧|"
        r"(要|想|扬言)(去)?跳楼|要跳河|寻死|轻生|不想活|自杀|收拾(了)?(他|她|你|对方|一家)|让(他|她|你|对方)好看"
    ),
    "injury": re.compile(
        r"打伤|砍伤|捅伤|刺伤|烫伤(了)?(娃娃|孩子|小孩)|打(得|到)?(头破|出血|流血|骨折|住院|昏)|头(被)?(打|撞)?破|"
        r"流(了)?(好多|很多|一地)?血|满(脸|身|头)(是)?血|青一块紫一块|(浑身|身上|到处)(都)?是伤|伤痕|淤青|不省人事"
    ),
    "person_at_risk": re.compile(
        r"(娃娃|孩子|小孩|小娃|儿童|老人|老汉|婆婆|爷爷|奶奶|老太太|老爷子).{0,6}(被打|挨打|被关|被锁|虐待|被拴|被遗弃)"
        r"|虐待|(打|揍)(娃娃|孩子|小孩|老人)"
    ),
    "violence": re.compile(r"家暴|动手打|打(老婆|婆娘|媳妇|老公|男人|女人)|拳打脚踢|掐(脖子|住)|推下楼|持械|斗殴|群殴"),
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
