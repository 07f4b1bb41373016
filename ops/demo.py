"""``moralbank demo``: a made-up neighbourhood with some history, so every page has data.

Everything here is invented: the street, its communities and compounds, and the volunteers
(random pairings of common surnames and given names, random member numbers and phone digits).
A ManualClock walks through the past six weeks so the history spreads over days.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from api.context import Services
from ledger.clock import ManualClock
from ledger.domain import Unit, Volunteer
from ops.demo_alliance import build_alliance

STREET = "青禾街道"
# community -> its compounds
COMMUNITIES: dict[str, list[str]] = {
    "柳岸社区": ["柳岸花园", "柳岸新村"],
    "杏林社区": ["杏林苑", "杏林雅居"],
    "枫桥社区": ["枫桥嘉园", "枫桥北里"],
    "春晖社区": ["春晖小区"],
}
STATIONS = [("青禾志愿服务驿站", None), ("柳岸社区邻里驿站", "柳岸社区"), ("杏林苑爱心驿站", "杏林苑")]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高梁宋郑谢韩唐冯"
GIVEN = [
    "秀英", "桂兰", "建国", "志强", "海燕", "丽娟", "文华", "春梅", "晓东", "玉珍",
    "国庆", "淑芬", "子涵", "浩然", "雨桐", "欣怡", "宇轩", "梓萱", "明辉", "红霞",
    "德胜", "凤英", "永红", "立新", "佳怡", "俊杰", "思远", "婉清", "振华", "慧敏",
]
# (memo, points per hour, typical minutes)
ACTIVITIES = [
    ("社区环境清洁", 10, (60, 120)),
    ("敬老院陪伴", 12, (90, 180)),
    ("垃圾分类指导", 10, (60, 90)),
    ("义务理发", 15, (120, 180)),
    ("文明交通劝导", 10, (60, 120)),
    ("社区图书角整理", 8, (60, 90)),
    ("反诈宣传进楼栋", 10, (60, 120)),
    ("助老送餐", 12, (45, 90)),
]
WELFARE_DAY = "道德银行公益日"


@dataclass
class DemoResult:
    street_id: UUID | None = None
    units: dict[str, UUID] = field(default_factory=dict)  # name -> id
    volunteers: list[Volunteer] = field(default_factory=list)
    transactions: int = 0
    reversals: int = 0
    merchants: dict[str, UUID] = field(default_factory=dict)  # shop name -> id (ops.demo_alliance)
    tokens: dict[str, str] = field(default_factory=dict)  # role -> secret
    token_names: dict[str, str] = field(default_factory=dict)  # role -> whose


def build_neighbourhood(services: Services, clock: ManualClock, *, seed: int = 2026, weeks: int = 6) -> DemoResult:
    """Fill an empty store. ``clock`` is the services' clock; it ends at ``now``."""
    rng = random.Random(seed)
    ledger = services.ledger
    zone = ZoneInfo(services.settings.timezone)
    real_now = datetime.now(zone)
    start = (real_now - timedelta(weeks=weeks)).replace(hour=9, minute=0, second=0, microsecond=0)
    clock.set(start)
    result = DemoResult()

    # -- the tree
    def unit(name: str, kind: str, parent: UUID | None) -> Unit:
        u = ledger.create_unit(name, kind, parent)
        result.units[name] = u.id
        clock.advance(minutes=3)
        return u

    street = unit(STREET, "street", None)
    result.street_id = street.id
    homes: list[tuple[UUID, UUID]] = []  # (building, its community)
    for community_name, compounds in COMMUNITIES.items():
        community = unit(community_name, "community", street.id)
        for compound_name in compounds:
            compound = unit(compound_name, "compound", community.id)
            for b in range(1, rng.randint(2, 4) + 1):
                building = unit(f"{compound_name}{b}号楼", "building", compound.id)
                homes.append((building.id, community.id))
    for station_name, parent_name in STATIONS:
        unit(station_name, "station", result.units[parent_name] if parent_name else street.id)

    # -- volunteers, registered over the first week
    names: set[str] = set()
    community_of: dict[UUID, UUID] = {}
    while len(names) < 60:
        names.add(rng.choice(SURNAMES) + rng.choice(GIVEN))
    for i, name in enumerate(sorted(names, key=lambda _: rng.random()), start=1):
        building_id, community_id = rng.choice(homes)
        v = ledger.register_volunteer(
            name, building_id, member_no=f"QH{i:04d}", phone_last4=f"{rng.randint(0, 9999):04d}"
        )
        community_of[v.id] = community_id
        result.volunteers.append(v)
        clock.advance(minutes=rng.randint(20, 200))

    # -- activities on most days: some volunteers serve, their community awards the points
    day = start + timedelta(days=7)
    welfare_day = start + timedelta(weeks=weeks - 2, days=5)  # a Saturday-ish, two weeks ago
    last_award = None
    move_day = start + timedelta(weeks=weeks - 3, days=2)
    while day.date() < real_now.date():
        if day.date() == move_day.date() and len(homes) > 1:
            # a family moves house within the street: later points count for the new building
            mover = result.volunteers[-1]
            new_home, new_community = next((b, c) for b, c in homes if b != mover.unit_id)
            clock.set(day.replace(hour=8))
            result.volunteers[-1] = ledger.move_volunteer(mover.id, new_home)
            community_of[mover.id] = new_community
        if day.date() == welfare_day.date():
            clock.set(day.replace(hour=15))
            result.transactions += welfare_day_batch(services, street.id, rng.sample(result.volunteers, 45))
        elif rng.random() < 0.75:
            memo, per_hour, (lo, hi) = rng.choice(ACTIVITIES)
            clock.set(day.replace(hour=rng.choice([9, 14, 19])))
            for v in rng.sample(result.volunteers, rng.randint(4, 12)):
                minutes = rng.randrange(lo, hi + 1, 15)
                r = ledger.credit(
                    f"demo:{day.date()}:{memo}:{v.id}", community_of[v.id], v.id, max(1, per_hour * minutes // 60),
                    minutes=minutes, memo=memo, actor="demo",
                )
                last_award = r.transaction
                result.transactions += 1
                clock.advance(minutes=rng.randint(1, 9))
        day += timedelta(days=1)

    # -- one mistake, put right by a reversal
    if last_award is not None:
        clock.advance(hours=2)
        ledger.reverse(last_award.id, memo="重复登记，撤销", actor="demo")
        result.reversals += 1

    # -- activities with scans (issue 4), in the organizer's community
    from ops.demo_activities import add_activities

    first_community = result.units[next(iter(COMMUNITIES))]
    add_activities(services, clock, first_community, result.volunteers, datetime.now(zone))

    clock.set(datetime.now(zone))
    result.merchants = build_alliance(services, clock, result.units, result.volunteers)
    return result


def welfare_day_batch(services: Services, street_id: UUID, volunteers: list[Volunteer]) -> int:
    """The welfare day as organizers run it: a sign-up sheet uploaded as one batch (with two
    lines the report refuses: a repeated line and an unknown member number)."""
    import tempfile
    from pathlib import Path

    rows = ["志愿者ID,积分,时长(分钟),序号,备注"]
    rows += [f"{v.id},30,180,WD-{i + 1:03d},{WELFARE_DAY}" for i, v in enumerate(volunteers)]
    rows += [f"{volunteers[0].id},30,180,WD-001,{WELFARE_DAY}", f"QH-0000,30,180,WD-999,{WELFARE_DAY}"]
    batches = services.batches
    assert batches is not None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "welfare-day.csv"
        path.write_text("\n".join(rows) + "\n", encoding="utf-8-sig")
        submitted = batches.submit(
            batches.spool_file(path), "csv", key="demo:welfare-day", title=WELFARE_DAY, unit_id=street_id,
            scope=None, actor="demo",
        )
    return batches.run(submitted.batch.id).accepted


def issue_demo_tokens(services: Services, result: DemoResult, *, admin_secret: str | None) -> None:
    """An admin token (the bootstrap one when given), an organizer for the first community,
    and one volunteer's own token."""
    ledger = services.ledger
    admin = ledger.issue_token("admin", "demo admin", secret=admin_secret)
    result.tokens["admin"], result.token_names["admin"] = admin.secret, admin.token.name
    community = next((n for n in COMMUNITIES if n in result.units), None) or next(
        (n for n in result.units if n != STREET), None
    )
    if community is not None:
        organizer = ledger.issue_token("organizer", f"{community} 组织者", unit_ids=[result.units[community]])
        result.tokens["organizer"], result.token_names["organizer"] = organizer.secret, organizer.token.name
    if result.volunteers:
        v = result.volunteers[0]
        vt = ledger.issue_token("volunteer", v.name, subject_id=v.id)
        result.tokens["volunteer"], result.token_names["volunteer"] = vt.secret, f"{v.name} ({v.id})"
    if result.merchants:
        shop, merchant_id = next(iter(result.merchants.items()))
        mt = ledger.issue_token("merchant", shop, subject_id=merchant_id)
        result.tokens["merchant"], result.token_names["merchant"] = mt.secret, f"{shop} (till: /pages/till)"


def existing_neighbourhood(services: Services) -> DemoResult:
    """Enough of a store that already holds data to issue demo tokens against it
    (its projections must be caught up)."""
    result = DemoResult()
    with services.db.read() as tx:
        community = tx.one("SELECT id, name FROM units WHERE kind = 'community' ORDER BY created_at, id LIMIT 1")
        volunteer = tx.one("SELECT id FROM volunteers ORDER BY registered_at, id LIMIT 1")
        shop = tx.one("SELECT id, name FROM alliance_merchants ORDER BY seq LIMIT 1")
    if shop:
        result.merchants[shop["name"]] = UUID(shop["id"])
    if community:
        result.units[community["name"]] = UUID(community["id"])
    if volunteer:
        result.volunteers.append(services.ledger.get_volunteer(UUID(volunteer["id"])))
    return result
