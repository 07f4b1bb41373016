"""The demo's merchant alliance: a few made-up partner shops with offers, and some weeks of
redemptions (one reversed), so the till page and the statements have data."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from api.context import Services
from ledger.clock import ManualClock
from ledger.domain import Volunteer
from ledger.errors import LedgerError

# (shop, community it belongs to, address, offers: (title, points, stock, limit per day))
SHOPS = [
    ("柳岸便民超市", "柳岸社区", "柳岸路 18 号", [("爱心大米 5 斤", 60, 40, None), ("洗衣液一瓶", 35, None, 1), ("鸡蛋一盒", 20, None, None)]),
    ("杏林惠民理发店", "杏林社区", "杏林街 6 号", [("洗剪吹", 30, None, 1), ("老人理发", 15, None, None)]),
    ("枫桥早餐铺", "枫桥社区", "枫桥北里 2 号门", [("豆浆油条套餐", 8, None, 2), ("小笼包一笼", 12, None, None)]),
    ("春晖洗衣房", "春晖社区", "春晖小区东门", [("衬衫干洗", 25, None, None)]),
    ("桂香水果铺", "桂香社区", "桂香里 3 号", [("时令水果一份", 18, None, 1), ("果篮", 50, 20, None)]),
    ("柳岸修鞋配钥匙", "柳岸社区", "柳岸新村南门", [("修鞋一双", 15, None, None), ("配钥匙", 5, None, 3)]),
    ("杏林社区药房", "杏林社区", "杏林雅居 1 号商铺", [("口罩一盒", 10, None, 2), ("血压测量", 5, None, 1)]),
    ("枫桥菜市场周记蔬菜", "枫桥社区", "枫桥菜市场 12 号摊", [("青菜一把", 4, None, None), ("蔬菜礼包", 25, 30, 1)]),
    ("春晖面馆", "春晖社区", "春晖东苑沿街 5 号", [("阳春面", 10, None, 1), ("牛肉面", 22, None, None)]),
    ("桂香书屋", "桂香社区", "桂香园会所二楼", [("借阅月卡", 20, None, None), ("文具套装", 15, 50, None)]),
    ("青禾家电维修", "", "青禾街道综合楼 1 楼", [("小家电检修", 30, None, None)]),
    ("青禾照相馆", "", "青禾街道综合楼 2 楼", [("证件照", 20, None, None), ("全家福", 80, 10, None)]),
]

def build_alliance(
    services: Services, clock: ManualClock, units: dict[str, UUID], volunteers: list[Volunteer], *, seed: int = 2026
) -> tuple[dict[str, UUID], int]:
    """Register the shops and offers, then walk the last three weeks (and today, up to now)
    redeeming pay codes. Returns (shop name -> merchant id, redemptions made)."""
    alliance = services.alliance
    assert alliance is not None
    rng = random.Random(seed)
    zone = ZoneInfo(services.settings.timezone)
    now = clock.now()
    merchants: dict[str, UUID] = {}
    offers: dict[UUID, list[UUID]] = {}
    clock.set(now - timedelta(days=22))
    for name, community, address, items in SHOPS:
        unit = units.get(community) or next(iter(units.values()))  # no community: the street's own
        merchant, _ = alliance.register_merchant(name, unit, address=address, contact=f"0571-8{rng.randint(1000000, 9999999)}")
        merchants[name] = merchant.id
        offers[merchant.id] = [
            alliance.create_offer(merchant.id, title, points, stock=stock, limit=limit, limit_period="day" if limit else None).id
            for title, points, stock, limit in items
        ]
        clock.advance(minutes=20)

    last = None
    redeemed = 0
    today = now.astimezone(zone).replace(hour=8, minute=0, second=0, microsecond=0)
    moments = [today - timedelta(days=d, hours=-rng.randint(1, 11)) for d in range(21, 0, -1) for _ in range(rng.randint(6, 14))]
    moments.sort()
    moments += [m for m in (today + timedelta(minutes=30 * k) for k in range(1, 6)) if m < now]
    for at in moments:
        clock.set(at)
        volunteer = rng.choice(volunteers)
        merchant_id = rng.choice(list(merchants.values()))
        code = alliance.issue_pay_code(volunteer.id).code
        clock.advance(seconds=rng.randint(5, 40))
        try:
            if rng.random() < 0.7:
                r = alliance.redeem(merchant_id, code, offer_id=rng.choice(offers[merchant_id]), actor="demo")
            else:
                r = alliance.redeem(merchant_id, code, points=rng.randint(5, 30), actor="demo")
        except LedgerError:
            continue  # not enough points, a limit: the till says so and nobody pays
        last = r.redemption
        redeemed += 1
    if last is not None:
        clock.advance(minutes=3)
        alliance.reverse(last.id, reason="顾客退货", actor="demo", merchant_id=last.merchant_id)
    clock.set(max(clock.now(), now))
    return merchants, redeemed
