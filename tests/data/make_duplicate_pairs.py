"""Writes tests/data/duplicate_pairs.jsonl: report pairs of the same item in the same grid, labelled same problem or
different problem. Each problem below is written as three reports by different residents (hand-written
paraphrases); same-problem pairs are two of them, different-problem pairs take one report of each of two problems
of the same item. Distances between the two reporters are fixed per pair (deterministic), with some reports without
coordinates (grid only). Run: python tests/data/make_duplicate_pairs.py"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

PROBLEMS: dict[str, list[list[str]]] = {
    "S02": [
        [
            "蜀汉路318号门口的路灯不亮了，晚上很黑",
            "蜀汉路318号那盏路灯坏了好几天，晚上走路看不见",
            "318号楼下路灯一直不亮，请尽快修一下",
        ],
        ["花照壁中横街菜市场旁边的路灯一闪一闪的", "菜市场边上那个路灯老是闪，晃眼睛", "花照壁菜市场门口路灯忽明忽暗"],
        ["西华公园北门路灯白天也亮着，浪费电", "公园北门的路灯白天一直开着没人关", "西华公园北大门路灯大白天还亮"],
        [
            "金泉街道2号院后门路灯杆歪了，快倒了",
            "2号院后门那根灯杆倾斜得厉害，怕砸到人",
            "后门路灯杆被车撞歪了，有倒塌危险",
        ],
    ],
    "S01": [
        ["营门口路口东侧有个大坑，电瓶车差点摔了", "营门口路口东边路面塌了一个坑", "路口东侧路面坑洼，骑车很危险"],
        [
            "黄忠街15号门前人行道砖松动翘起来了",
            "15号门口人行道的地砖翘起，老人容易绊倒",
            "黄忠街人行道砖头松了，踩上去会动",
        ],
        ["沙湾路小学门口路面裂缝很长", "小学校门前马路开裂了，一条长缝", "沙湾路学校门口路面有很长的裂口"],
    ],
    "S03": [
        ["抚琴西路9号院垃圾桶满了三天没人收", "9号院的垃圾堆了好几天，臭得很", "院子里垃圾桶溢出来了，一直没清运"],
        ["星辰小区东门外有人倒了一堆建筑垃圾", "东门外面堆着装修垃圾，没人管", "小区东门口建筑渣土乱倒"],
        ["茶店子农贸市场后面垃圾站没清理，苍蝇很多", "农贸市场后头的垃圾站满了，招苍蝇", "市场后面垃圾房好久没清了"],
    ],
    "S08": [
        [
            "马鞍北路雨水口堵了，一下雨就积水",
            "马鞍北路下雨积水很深，下水口堵住了",
            "路边雨水篦子被树叶堵死，积水过不去",
        ],
        ["一环路北三段12号楼下化粪池冒水", "12号楼下面污水往外冒，味道很大", "楼下化粪池满溢，污水流到路上"],
        ["西体路幼儿园旁边下水道反味", "幼儿园边上的下水道很臭", "西体路那段下水道一直往上返臭味"],
    ],
    "S09": [
        ["金府路口有个井盖不见了，很危险", "金府路路口井盖丢了，留了个大洞", "路口窨井盖没了，晚上有人会掉下去"],
        ["解放路二段88号门口井盖破了一块", "88号门前的井盖碎了，踩上去晃", "解放路那个井盖裂开了，车过会响"],
        ["蓉北商贸大道人行道上井盖下沉", "人行道井盖陷下去了，容易崴脚", "商贸大道那边人行道井盖塌陷"],
    ],
    "S06": [
        ["荷花池批发市场门口三轮车占道卖水果", "批发市场门口水果摊把路堵了", "市场大门外摆摊卖水果占了车道"],
        ["曹家巷地铁站出口烧烤摊占用人行道", "地铁口晚上烧烤摊摆满人行道", "曹家巷地铁出口夜市烧烤占道经营"],
        ["五块石小学放学时门口小吃摊占道", "学校门口放学有很多小吃摊挡路", "小学门前摊贩堵住接孩子的路"],
    ],
    "S07": [
        ["沙湾东一路6栋楼道里贴满了开锁小广告", "6栋楼道墙上全是开锁疏通的小广告", "楼道里小广告贴得密密麻麻"],
        ["人民北路公交站牌被喷了办证电话", "公交站牌上喷了很多办证号码", "站台广告牌被喷涂小广告"],
        ["天回镇路电线杆上贴满招聘广告", "电线杆上贴的招工广告撕了又贴", "路边电杆全是乱贴的招聘单"],
    ],
    "S10": [
        ["府河边步道旁的大树枝断了挂在上面", "河边步道那棵树断枝悬着，怕掉下来砸人", "步道边树枝折断挂着没掉，很危险"],
        ["金鱼街3号院绿化带被人种菜", "3号院的绿地被挖开种了菜", "院子绿化带有人私自种菜"],
        ["交大路中间隔离带的灌木枯死一大片", "隔离带里的绿化植物死了好多", "交大路绿化带灌木全黄了没人管"],
    ],
    "S11": [
        ["量力钢材城宿舍4单元楼道堆满杂物", "4单元楼道里全是杂物，着火跑不出去", "楼道被旧家具纸箱堵住了"],
        ["五福桥小区消防通道被车堵死", "小区消防通道长期停满私家车", "消防车道被占，救火车进不来"],
        ["兴盛世家1栋的灭火器都过期了", "1栋楼里的灭火器早就过期没换", "楼道灭火器压力表指到红区了"],
    ],
    "S12": [
        ["西华苑7栋有人从楼上拉电线给电动车充电", "7栋飞线充电，电线从窗户吊下来", "有住户从家里拉插线板下楼充电瓶车"],
        ["营康西路19号电动车停在楼道里充电", "19号楼道里停了好几辆电瓶车在充电", "电动车推进楼道充电，很危险"],
    ],
    "S15": [
        ["人北中路9号院停水两天了", "9号院两天没来水，也没通知", "我们院子一直停水，什么时候恢复"],
        ["花牌坊街自来水发黄有异味", "家里水龙头出来的水是黄的还有味道", "自来水浑浊发黄不敢喝"],
        ["洞子口路口消防栓漏水，水流了一地", "路口消防栓一直在漏水", "消火栓坏了往外冒水浪费"],
    ],
    "S16": [
        ["抚琴小区健身器材扭腰器坏了", "小区里的健身器材断了一个", "院子里扭腰器转盘掉了，老人容易受伤"],
        ["九里堤公园长椅断了一条腿", "公园长凳坏了，坐上去会翻", "九里堤公园的座椅损坏"],
        ["西月城街公交站遮雨棚玻璃碎了", "站台雨棚玻璃破了掉渣", "公交站棚顶玻璃裂开有碎片"],
    ],
    "S23": [
        ["茶店子东街8号院老鼠特别多", "8号院晚上老鼠乱窜，还咬东西", "院子里老鼠成群，需要灭鼠"],
        ["金牛万达后街餐馆后面蟑螂泛滥", "万达后街饭馆后门蟑螂很多", "后街餐馆垃圾处蟑螂到处爬"],
    ],
    "S28": [
        ["一品天下大街火锅店油烟直排进小区", "火锅店的油烟直接排到我们楼里", "楼下火锅店没装净化器，油烟熏人"],
        ["蜀西路烧烤店排烟管对着住户窗户", "烧烤店烟囱正对着我家窗户", "蜀西路那家烧烤把烟往居民楼排"],
    ],
    "S29": [
        ["羊西线旁工地晚上十一点还在施工", "工地半夜还在打桩，吵得睡不着", "羊西线工地夜间施工噪音扰民"],
        ["蜀汉路拆迁工地扬尘很大没有洒水", "拆房子灰尘漫天也不洒水", "蜀汉路工地尘土飞扬没盖防尘网"],
    ],
    "S14": [
        ["金牛苑小区电梯坏了一周物业不修", "小区电梯停了一个星期没人管", "电梯故障多天物业一直拖着"],
        ["华侨城小区物业乱收停车费", "物业停车收费涨了也没公示", "小区停车费物业随便乱收"],
        ["沁园小区门禁坏了外人随便进", "小区大门门禁失灵了", "门禁系统坏掉，陌生人随意进出"],
    ],
    "S05": [
        ["抚琴南路5号楼顶有人搭彩钢棚", "5号楼楼顶在建彩钢房", "楼顶违规搭建铁皮棚子"],
        ["星科北街一楼住户私自扩建占绿地", "一楼住户把院子扩出来占了绿化", "底楼住户违建围墙圈占公共绿地"],
    ],
}


def distance(key: str, low: int, high: int) -> int:
    return low + int(hashlib.sha256(key.encode()).hexdigest(), 16) % (high - low + 1)


def without_coordinates(key: str, share: int) -> bool:
    return int(hashlib.sha256(("nc" + key).encode()).hexdigest(), 16) % 100 < share


def pairs() -> list[dict]:
    out = []
    for item, problems in PROBLEMS.items():
        for p, reports in enumerate(problems):
            for a, b in itertools.combinations(range(len(reports)), 2):
                key = f"{item}:{p}:{a}:{b}"
                out.append(
                    {
                        "item_code": item,
                        "a": reports[a],
                        "b": reports[b],
                        "distance_m": None if without_coordinates(key, 15) else distance(key, 0, 90),
                        "same": True,
                    }
                )
        for p, q in itertools.combinations(range(len(problems)), 2):
            for a, b in ((0, 1), (2, 0), (1, 2)):
                key = f"{item}:{p}x{q}:{a}:{b}"
                near = distance("near" + key, 0, 99) < 30  # a third of them within 100 m: the hard cases
                out.append(
                    {
                        "item_code": item,
                        "a": problems[p][a],
                        "b": problems[q][b],
                        "distance_m": None
                        if without_coordinates(key, 15)
                        else distance(key, 20, 95)
                        if near
                        else distance(key, 110, 600),
                        "same": False,
                    }
                )
    return out


if __name__ == "__main__":
    rows = pairs()
    path = Path(__file__).with_name("duplicate_pairs.jsonl")
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    print(f"{len(rows)} pairs: {sum(r['same'] for r in rows)} same, {sum(not r['same'] for r in rows)} different")
