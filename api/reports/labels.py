"""The words of the yearly report, Chinese first, English on request; how its numbers are printed
(one function for the PDF, the charts and the tests that read the PDF back)."""

from __future__ import annotations

LANGS = ("zh", "en")

KINDS = {
    "zh": {"street": "街道", "community": "社区", "compound": "小区", "building": "楼栋", "station": "驿站"},
    "en": {"street": "street", "community": "community", "compound": "compound", "building": "building", "station": "station"},
}

# The cover's key figures: (field of ``Figures``, label key), in the order printed.
KEY_FIGURES = (
    ("volunteers", "volunteers"),
    ("active", "active"),
    ("hours", "hours"),
    ("activities", "activities"),
    ("issued", "issued"),
    ("earned", "earned"),
    ("redeemed", "redeemed"),
    ("expired", "expired"),
    ("shops", "shops"),
    ("redemptions", "redemptions"),
    ("welfare_days", "welfare_days"),
    ("new_volunteers", "new_volunteers"),
)

TEXT = {
    "zh": {
        "title": "{year} 年度志愿服务报告",
        "subtitle": "道德银行 · 储蓄爱心 传递善行",
        "generated": "生成于 {at}（{zone}）",
        "partial": "本年度尚未结束，数字截至 {day}",
        "empty": "本年度该单位没有志愿服务记录：没有积分、时长、活动或兑换。",
        "key_figures": "年度主要数字",
        "volunteers": "注册志愿者",
        "new_volunteers": "本年新注册",
        "active": "活跃志愿者",
        "hours": "服务时长（小时）",
        "activities": "志愿活动",
        "issued": "发放积分",
        "earned": "获得积分",
        "redeemed": "兑换积分",
        "expired": "过期积分",
        "shops": "联盟商家",
        "redemptions": "兑换笔数",
        "welfare_days": "公益日",
        "by_month": "逐月情况",
        "month": "月份",
        "month_n": "{m}月",
        "chart_hours": "每月服务时长（小时）",
        "chart_points": "每月发放与兑换积分",
        "chart_active": "每月活跃志愿者",
        "units_below": "下级单位对比",
        "no_units_below": "该单位没有下级单位。",
        "unit": "单位",
        "role_models": "年度道德榜样",
        "masked_note": "姓名按公开榜单方式隐去部分字。",
        "full_note": "管理员版本：显示全名。",
        "no_role_models": "本年度暂无上榜志愿者。",
        "rank": "名次",
        "name": "姓名",
        "home": "所在单位",
        "points": "积分",
        "activities_by_unit": "各单位每月活动次数",
        "no_activities": "本年度没有举办志愿活动。",
        "total": "合计",
        "batches": "公益日批量发放",
        "no_batches": "本年度没有公益日批量发放。",
        "batch_title": "名称",
        "day": "日期",
        "lines": "发放笔数",
        "people": "人数",
        "alliance": "道德联盟",
        "shop": "商家",
        "net_points": "净兑换积分",
        "no_shops": "本单位暂无联盟商家。",
        "chart_shops": "商家净兑换积分",
        "chart_redemptions": "每月兑换笔数",
        "integrity": "账本完整性",
        "root_day": "日根日期",
        "root": "当日哈希链根",
        "last_event": "最后事件序号",
        "events_in_year": "本年事件数",
        "verify": "全量校验（moralbank verify）",
        "passed": "通过",
        "failed": "未通过",
        "not_verified": "本报告未附校验结果",
        "page": "第 {n} 页",
        "minutes_col": "时长（小时）",
    },
    "en": {
        "title": "Volunteer service in {year}",
        "subtitle": "Moral bank · save up kindness, pass good deeds on",
        "generated": "Generated {at} ({zone})",
        "partial": "The year is not over: figures up to {day}",
        "empty": "No activity in this unit this year: no points, hours, activities or redemptions.",
        "key_figures": "The year in figures",
        "volunteers": "Volunteers registered",
        "new_volunteers": "New this year",
        "active": "Active volunteers",
        "hours": "Hours served",
        "activities": "Activities held",
        "issued": "Points issued",
        "earned": "Points earned",
        "redeemed": "Points redeemed",
        "expired": "Points expired",
        "shops": "Alliance shops",
        "redemptions": "Redemptions",
        "welfare_days": "Welfare days",
        "by_month": "Month by month",
        "month": "Month",
        "month_n": "{abbr}",
        "chart_hours": "Hours served per month",
        "chart_points": "Points issued and redeemed per month",
        "chart_active": "Active volunteers per month",
        "units_below": "Units below, side by side",
        "no_units_below": "This unit has no units below it.",
        "unit": "Unit",
        "role_models": "Role models of the year",
        "masked_note": "Names masked as on the public board.",
        "full_note": "Admin copy: full names.",
        "no_role_models": "No volunteer on the board this year.",
        "rank": "Rank",
        "name": "Name",
        "home": "Home unit",
        "points": "Points",
        "activities_by_unit": "Activities by unit and month",
        "no_activities": "No activity was held this year.",
        "total": "Total",
        "batches": "Welfare-day batches",
        "no_batches": "No welfare-day batch this year.",
        "batch_title": "Title",
        "day": "Day",
        "lines": "Lines",
        "people": "Volunteers",
        "alliance": "The moral alliance",
        "shop": "Shop",
        "net_points": "Net points",
        "no_shops": "No alliance shop in this unit.",
        "chart_shops": "Shops by net points",
        "chart_redemptions": "Redemptions per month",
        "integrity": "Integrity of the ledger",
        "root_day": "Day of the root",
        "root": "Hash-chain root of that day",
        "last_event": "Last event",
        "events_in_year": "Events this year",
        "verify": "Full check (moralbank verify)",
        "passed": "passed",
        "failed": "FAILED",
        "not_verified": "not verified with this report",
        "page": "Page {n}",
        "minutes_col": "Hours",
    },
}

MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def t(lang: str, key: str, **kw: object) -> str:
    return TEXT[lang][key].format(**kw)


def month_label(lang: str, m: int) -> str:
    return t(lang, "month_n", m=m, abbr=MONTH_ABBR[m - 1])


def kind_label(lang: str, kind: str) -> str:
    return KINDS[lang].get(kind, kind)


def num(value: int | float) -> str:
    """How every figure is printed: thousands separated by commas; hours with one decimal."""
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}"
