"""A deterministic demo data set: merchants, terminals, agents and staff accounts.

Deterministic: the same seed gives the same data. The merchant numbers and phones are data
(``demo_merchants.json``, which the PBX simulator reads too); the rest is drawn from the seed.
``callcenter demo-data`` loads it (see ``callcenter.service.load_demo_data``). Merchant numbers
follow the acquirer's pattern ``<3-digit acquirer><4-digit area><4-digit MCC><4-digit serial>``
= 15 digits.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from callcenter.domain import MerchantInput, MerchantTag, Role, TerminalInput

SEED = 20261122
DIRECTORY_FILE = Path(__file__).with_name("demo_merchants.json")

# city, district list, streets (merchant i is in city i mod 5, as its number's area part says)
CITIES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("上海市", ("浦东新区", "徐汇区", "静安区", "黄浦区", "闵行区"),
     ("张杨路", "南京西路", "淮海中路", "漕溪北路", "世纪大道", "虹梅路")),
    ("北京市", ("朝阳区", "海淀区", "东城区", "西城区", "丰台区"),
     ("建国路", "中关村大街", "王府井大街", "西单北大街", "丰台路")),
    ("广州市", ("天河区", "越秀区", "海珠区", "白云区"),
     ("天河路", "北京路", "江南大道", "白云大道")),
    ("深圳市", ("福田区", "南山区", "罗湖区", "宝安区"),
     ("深南大道", "科技园路", "东门路", "宝安大道")),
    ("杭州市", ("西湖区", "上城区", "拱墅区", "滨江区"),
     ("文三路", "延安路", "莫干山路", "江南大道")),
)

SHOP_PREFIX = ("鑫源", "福满", "金穗", "华联", "佳乐", "永辉", "悦家", "万和", "嘉禾", "盛世",
               "聚福", "百惠", "同心", "宏达", "康宁", "美达", "新世纪", "好又多", "一品", "惠民")
SHOP_KIND = (("便利店", "5411"), ("超市", "5411"), ("餐厅", "5812"), ("面馆", "5814"),
             ("药房", "5912"), ("服装店", "5651"), ("五金店", "5251"), ("咖啡馆", "5814"),
             ("烘焙坊", "5462"), ("手机店", "5732"), ("酒店", "7011"), ("加油站", "5541"))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
         "明", "超", "秀英", "华", "平", "建国", "志强", "海燕", "晓东")
HOURS = ("08:00-22:00", "09:00-21:00", "10:00-22:00", "07:00-23:00", "00:00-24:00",
         "11:00-14:00", "06:30-20:30")
TERMINAL_MODELS = ("LANDI A8", "PAX A920", "NEWLAND N910", "CENTERM K9")


@dataclass(frozen=True, slots=True)
class DemoUser:
    username: str
    display_name: str
    role: Role
    password: str
    agent_number: str = ""
    interface: str = ""
    queues: tuple[str, ...] = ()
    team: str = ""


@dataclass(frozen=True, slots=True)
class DemoData:
    merchants: list[MerchantInput]
    terminals: list[TerminalInput]
    users: list[DemoUser]
    queues: list[tuple[str, str, str]]  # name, zh title, en title


QUEUES = [
    ("presales", "售前咨询", "Pre-sales"),
    ("aftersales", "售后服务", "After-sales"),
    ("complaints", "投诉", "Complaints"),
    ("techsupport", "技术支持", "Technical support"),
    ("night", "夜间值班", "Night shift"),
]

# Demo passwords are printed by `callcenter demo-data`; they exist only in demo databases.
DEMO_PASSWORD = "demo1234"  # noqa: S105


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def demo_directory() -> list[tuple[str, tuple[str, ...]]]:
    """(merchant number, phones) of the demo merchants, from ``demo_merchants.json``.

    The numbers and phones live in a data file because the PBX simulator calls from these
    phones and must not import the product to learn them; the head office number 02158881234
    is shared by three merchants, and the first merchant has the caller ID of the Asterisk
    fixtures (13800138000).
    """
    raw = json.loads(DIRECTORY_FILE.read_text(encoding="utf-8"))
    return [(str(number), tuple(str(p) for p in phones)) for number, phones in raw["merchants"]]


def generate(seed: int = SEED, merchants: int = 200, agents: int = 15) -> DemoData:
    """The demo set: 200 merchants in 5 cities (at most; their numbers and phones from
    :func:`demo_directory`), 1–3 terminals each, staff accounts. Raises ``ValueError`` for
    more merchants than the directory has."""
    directory = demo_directory()
    if merchants > len(directory):
        raise ValueError(f"the demo data has {len(directory)} merchants, not {merchants}")
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    items: list[MerchantInput] = []
    terminals: list[TerminalInput] = []
    for i, (number, phones) in enumerate(directory[:merchants]):
        city, districts, streets = CITIES[i % len(CITIES)]
        district = rng.choice(districts)
        mcc = number[7:11]
        kind = rng.choice([k for k, code in SHOP_KIND if code == mcc])
        name = f"{city[:-1]}{rng.choice(SHOP_PREFIX)}{kind}"
        if i % 7 == 0:
            name += f"({district[:2]}店)"
        tags = set()
        if i % 9 == 0:
            tags.add(MerchantTag.HIGH_VALUE.value)
        if i % 13 == 0:
            tags.add(MerchantTag.NEW.value)
        items.append(MerchantInput(
            merchant_number=number, name=name,
            address=f"{city}{district}{rng.choice(streets)}{rng.randint(1, 999)}号",
            district=f"{city}{district}", contact_person=person(rng), phones=phones,
            business_hours=rng.choice(HOURS), tags=frozenset(tags),
        ))
        for t in range(1 + (rng.random() < 0.35) + (rng.random() < 0.1)):
            model = rng.choice(TERMINAL_MODELS)
            prefix = "".join(w[0] for w in model.split())
            terminals.append(TerminalInput(
                serial=f"{prefix}{i + 1:05d}{t + 1:02d}", model=model, merchant_number=number,
                install_date=date(2022, 1, 1) + timedelta(days=rng.randint(0, 1400)),
            ))
    users = [
        DemoUser("admin", "系统管理员", Role.ADMIN, DEMO_PASSWORD),
        # the supervisor's own phone, which live monitoring rings (via [supervisor])
        DemoUser("supervisor", "周主管", Role.SUPERVISOR, DEMO_PASSWORD, agent_number="9000",
                 interface="PJSIP/9000"),
        DemoUser("dispatcher", "吴调度", Role.DISPATCHER, DEMO_PASSWORD),
        # team lead of 一组 (agents 8001-8007); 二组 has no lead account in the demo
        DemoUser("teamlead", "郑班长", Role.TEAM_LEAD, DEMO_PASSWORD, team="一组"),
    ]
    # No account lists `night`: every agent of aftersales/presales joins it at log-in
    # (callcenter.shifts.login_queues), so the night calls reach whoever is on shift.
    for n in range(agents):
        number = f"{8001 + n}"
        queues = ("aftersales", "presales") if n % 3 else ("aftersales", "complaints",
                                                           "techsupport", "presales")
        users.append(DemoUser(number, person(rng), Role.AGENT, DEMO_PASSWORD,
                              agent_number=number, interface=f"PJSIP/{number}", queues=queues,
                              team="一组" if n < 7 else "二组"))
    return DemoData(merchants=items, terminals=terminals, users=users, queues=list(QUEUES))
