"""``moralbank demo``: a made-up neighbourhood with a month of history, so every page has data.

Everything here is invented: the street, its five communities, compounds and buildings, and
2 000 volunteers (random pairings of common surnames and given names, random member numbers
and phone digits). A ManualClock walks through the past five weeks: volunteers register, a
month of activities is served with real check-in and check-out scans, a welfare day is one
batch upload, a bonus is credited by mistake and reversed, and alliance shops take points.
Every write goes through the same commands the API uses, so the ledger's rules all apply.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from api.context import Services
from ledger.activities.service import CHECK_OUT
from ledger.clock import ManualClock
from ledger.domain import Unit, Volunteer
from ops.demo_alliance import build_alliance

STREET = "青禾街道"
# community -> its compounds
COMMUNITIES: dict[str, list[str]] = {
    "柳岸社区": ["柳岸花园", "柳岸新村", "柳岸雅苑"],
    "杏林社区": ["杏林苑", "杏林雅居"],
    "枫桥社区": ["枫桥嘉园", "枫桥北里", "枫桥南苑"],
    "春晖社区": ["春晖小区", "春晖东苑"],
    "桂香社区": ["桂香园", "桂香里"],
}
STATIONS = [("青禾志愿服务驿站", None), ("柳岸社区邻里驿站", "柳岸社区"), ("杏林苑爱心驿站", "杏林苑")]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏"
GIVEN = [
    "秀英", "桂兰", "建国", "志强", "海燕", "丽娟", "文华", "春梅", "晓东", "玉珍",
    "国庆", "淑芬", "子涵", "浩然", "雨桐", "欣怡", "宇轩", "梓萱", "明辉", "红霞",
    "德胜", "凤英", "永红", "立新", "佳怡", "俊杰", "思远", "婉清", "振华", "慧敏",
    "金凤", "保国", "秋菊", "兰芳", "长青", "美玲", "家豪", "诗涵", "一鸣", "若曦",
    "伟", "芳", "敏", "静", "磊", "军", "洋", "勇", "艳", "杰",
    "娟", "涛", "明", "超", "霞", "平", "刚", "桂英", "玉兰", "志刚",
]
# (memo, points per hour, activity length in minutes, at most points per person)
ACTIVITIES = [
    ("社区环境清洁", 10, 120, 30),
    ("敬老院陪伴", 12, 150, 40),
    ("垃圾分类指导", 10, 90, 20),
    ("义务理发", 15, 180, 45),
    ("文明交通劝导", 10, 120, 25),
    ("社区图书角整理", 8, 90, 15),
    ("反诈宣传进楼栋", 10, 120, 25),
    ("助老送餐", 12, 90, 20),
]
WELFARE_DAY = "道德银行公益日"
# the page each demo token logs in to
ROLE_PAGES = {
    "admin": "/pages/console", "organizer": "/pages/console", "volunteer": "/pages/volunteer", "merchant": "/pages/till",
}
BONUS = "月度优秀志愿者奖励"


@dataclass
class DemoResult:
    street_id: UUID | None = None
    units: dict[str, UUID] = field(default_factory=dict)  # name -> id
    volunteers: list[Volunteer] = field(default_factory=list)
    transactions: int = 0  # points credited: scans' check-outs, batch lines, bonuses
    reversals: int = 0
    activities: int = 0
    scans: int = 0
    batch_lines: int = 0
    redemptions: int = 0
    merchants: dict[str, UUID] = field(default_factory=dict)  # shop name -> id (ops.demo_alliance)
    tokens: dict[str, str] = field(default_factory=dict)  # role -> secret
    token_names: dict[str, str] = field(default_factory=dict)  # role -> whose
    signin_paths: dict[str, str] = field(default_factory=dict)  # role -> a one-time sign-in link's path (#token=…)


def made_up_names(rng: random.Random, n: int) -> list[str]:
    """``n`` distinct names from the pools (repeats only past the pools' size, as in life)."""
    pool = [s + g for s in SURNAMES for g in GIVEN]
    rng.shuffle(pool)
    return [pool[i % len(pool)] for i in range(n)]


def build_neighbourhood(
    services: Services, clock: ManualClock, *, seed: int = 2026, volunteers: int = 2000, days: int = 30
) -> DemoResult:
    """Fill an empty store. ``clock`` is the services' clock; it ends at ``now``."""
    rng = random.Random(seed)
    ledger = services.ledger
    zone = ZoneInfo(services.settings.timezone)
    real_now = datetime.now(zone)
    start = (real_now - timedelta(days=days + 6)).replace(hour=8, minute=0, second=0, microsecond=0)
    clock.set(start)
    result = DemoResult()

    # -- the tree
    def unit(name: str, kind: str, parent: UUID | None) -> Unit:
        u = ledger.create_unit(name, kind, parent)
        result.units[name] = u.id
        clock.advance(minutes=1)
        return u

    street = unit(STREET, "street", None)
    result.street_id = street.id
    homes: list[tuple[UUID, UUID]] = []  # (building, its community)
    for community_name, compounds in COMMUNITIES.items():
        community = unit(community_name, "community", street.id)
        for compound_name in compounds:
            compound = unit(compound_name, "compound", community.id)
            for b in range(1, rng.randint(3, 6) + 1):
                building = unit(f"{compound_name}{b}号楼", "building", compound.id)
                homes.append((building.id, community.id))
    stations = [unit(name, "station", result.units[parent] if parent else street.id).id for name, parent in STATIONS]

    # -- volunteers, registered over the first days (the sign-up drive)
    community_of: dict[UUID, UUID] = {}
    residents: dict[UUID, list[Volunteer]] = {}
    for i, name in enumerate(made_up_names(rng, volunteers), start=1):
        building_id, community_id = rng.choice(homes)
        v = ledger.register_volunteer(
            name, building_id, member_no=f"QH{i:04d}", phone_last4=f"{rng.randint(0, 9999):04d}"
        )
        community_of[v.id] = community_id
        residents.setdefault(community_id, []).append(v)
        result.volunteers.append(v)
        clock.advance(seconds=rng.randint(30, 300))

    # -- a month of activities, served with real scans; a welfare day; a family moves house
    communities = [result.units[c] for c in COMMUNITIES]
    first_day = (real_now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    welfare_day = (real_now - timedelta(days=14)).date()
    move_day = (real_now - timedelta(days=days // 2)).date()
    mover = result.volunteers[-1]
    day = first_day
    while day.date() < real_now.date():
        if day.date() == move_day:
            new_home, new_community = next((b, c) for b, c in homes if c != community_of[mover.id])
            clock.set(day.replace(hour=8))
            result.volunteers[-1] = ledger.move_volunteer(mover.id, new_home)
            residents[community_of[mover.id]].remove(mover)
            community_of[mover.id] = new_community
            residents[new_community].append(result.volunteers[-1])
        if day.date() == welfare_day:
            clock.set(day.replace(hour=17))
            people = rng.sample(result.volunteers, min(len(result.volunteers), max(2, len(result.volunteers) * 3 // 10)))
            accepted = welfare_day_batch(services, street.id, people)
            result.transactions += accepted
            result.batch_lines += accepted
        else:
            for hour in sorted(rng.sample([9, 14, 19], rng.randint(2, 3))):
                where = rng.choice(communities) if rng.random() < 0.85 else rng.choice(stations)
                local = residents.get(where) or result.volunteers
                others = result.volunteers
                n = min(len(others), rng.randint(15, 45))
                people = list({v.id: v for v in rng.sample(local, min(len(local), n * 4 // 5)) + rng.sample(others, n // 5)}.values())
                served = serve_activity(services, clock, where, day.replace(hour=hour), rng.choice(ACTIVITIES), people, rng)
                result.activities += 1
                result.scans += served[0]
                result.transactions += served[1]
        day += timedelta(days=1)

    # -- a monthly bonus per community, one of them entered twice by mistake and reversed
    clock.set(real_now.replace(hour=8, minute=0, second=0, microsecond=0) - timedelta(days=1))
    bonus = None
    for community_id in communities:
        for v in rng.sample(residents[community_id], min(3, len(residents[community_id]))):
            bonus = ledger.credit(f"demo:bonus:{community_id}:{v.id}", community_id, v.id, 20, memo=BONUS, actor="demo")
            result.transactions += 1
            clock.advance(minutes=2)
    if bonus is not None:
        clock.advance(hours=2)
        ledger.reverse(bonus.transaction.id, memo="重复登记，撤销", actor="demo")
        result.reversals += 1

    # -- today's activities in the organizer's community (one awaiting approvals, one running)
    from ops.demo_activities import add_activities

    first_community = result.units[next(iter(COMMUNITIES))]
    add_activities(services, clock, first_community, result.volunteers, datetime.now(zone))

    clock.set(datetime.now(zone))
    result.merchants, result.redemptions = build_alliance(services, clock, result.units, result.volunteers)
    result.reversals += 1 if result.redemptions else 0  # the alliance's returned purchase
    return result


def serve_activity(
    services: Services,
    clock: ManualClock,
    unit_id: UUID,
    starts_at: datetime,
    kind: tuple[str, int, int, int],
    people: list[Volunteer],
    rng: random.Random,
) -> tuple[int, int]:
    """One past activity: created two days before, everyone checks in around the start and out
    around the end, each by scanning the code on the organizer's screen at that moment.
    Returns (scans, check-outs that earned points)."""
    att = services.attendance
    assert att is not None
    title, per_hour, minutes, max_points = kind
    ends_at = starts_at + timedelta(minutes=minutes)
    clock.set(starts_at - timedelta(days=2))
    activity = att.create_activity(
        title, unit_id, starts_at, ends_at, per_hour, max_points=max_points, min_minutes=30, created_by="demo"
    )
    # (moment, volunteer): in within 20 minutes of the start, out in the last 40 minutes
    moments = [(starts_at + timedelta(minutes=rng.randint(-15, 20), seconds=i), v) for i, v in enumerate(people)]
    moments += [(ends_at - timedelta(minutes=rng.randint(-5, 40), seconds=i), v) for i, v in enumerate(people)]
    moments.sort(key=lambda m: m[0])
    earned = 0
    for at, v in moments:
        clock.set(at)
        r = att.scan_code(att.code_for(activity.id).code, v.id)
        earned += r.action == CHECK_OUT and r.attendance.transaction_id is not None
    return len(moments), earned


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
    """An admin token (the bootstrap one when given), an organizer for the first community (and a
    one-time sign-in link for them), one volunteer's own token, and a shop's."""
    ledger = services.ledger
    admin = ledger.issue_token("admin", "demo admin", secret=admin_secret)
    result.tokens["admin"], result.token_names["admin"] = admin.secret, admin.token.name
    community = next((n for n in COMMUNITIES if n in result.units), None) or next(
        (n for n in result.units if n != STREET), None
    )
    if community is not None:
        organizer = ledger.issue_token("organizer", f"{community} 组织者", unit_ids=[result.units[community]])
        result.tokens["organizer"], result.token_names["organizer"] = organizer.secret, organizer.token.name
        # the organizer can also open the console by a one-time link (as a street office hands them out)
        link = services.cards.create_link("organizer", organizer.token.name, unit_ids=[result.units[community]], created_by="demo")
        result.signin_paths["organizer"] = f"/pages/signin#token={link.secret}"
    if result.volunteers:
        v = result.volunteers[0]
        vt = ledger.issue_token("volunteer", v.name, subject_id=v.id)
        result.tokens["volunteer"], result.token_names["volunteer"] = vt.secret, f"{v.name} ({v.id})"
    if result.merchants:
        shop, merchant_id = next(iter(result.merchants.items()))
        mt = ledger.issue_token("merchant", shop, subject_id=merchant_id)
        result.tokens["merchant"], result.token_names["merchant"] = mt.secret, shop


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
