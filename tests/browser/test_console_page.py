"""The console (/pages/console) in headless Chromium: a GB18030 roster imported through the page,
an activity created and a scan seen live, a welfare-day file with bad lines fixed through
refused.csv and paid once, and an organizer who sees only their own community. Screenshots of
every section in Chinese and English go to docs/."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from browser_helpers import screenshot
from ledger.accounts import volunteer_account

DOCS = Path(__file__).resolve().parents[2] / "docs"


def shot(page: Any, name: str) -> None:
    DOCS.mkdir(exist_ok=True)
    page.screenshot(path=str(DOCS / f"{name}.png"), full_page=False)
    screenshot(page, name)


def top(page: Any) -> None:
    """Back to the top once a smooth scroll (the detail card opening) has settled."""
    page.wait_for_timeout(700)
    page.evaluate("window.scrollTo(0, 0)")


def neighbourhood(services: Any) -> dict[str, Any]:
    ledger = services.ledger
    street = ledger.create_unit("青禾街道", "street", None)
    dangui = ledger.create_unit("丹桂社区", "community", street.id)
    liuan = ledger.create_unit("柳岸社区", "community", street.id)
    c3 = ledger.create_unit("3号小区", "compound", dangui.id)
    c5 = ledger.create_unit("5号小区", "compound", dangui.id)
    b1 = ledger.create_unit("1栋", "building", c3.id)
    ledger.create_unit("2栋", "building", c3.id)
    station = ledger.create_unit("丹桂志愿驿站", "station", dangui.id)
    l1 = ledger.create_unit("柳岸花园", "compound", liuan.id)
    people = {}
    for name, no, unit in [("周海燕", "DG-001", b1), ("吴建国", "DG-002", c3), ("郑晓红", "DG-003", c5), ("冯志强", "DG-004", station),
                           ("陈思远", "LA-001", l1), ("林静", "LA-002", l1)]:
        people[no] = ledger.register_volunteer(name, unit.id, member_no=no, phone_last4=no[-1] * 4)
    for no, pts in [("DG-001", 40), ("DG-002", 25), ("DG-003", 10), ("LA-001", 30)]:
        ledger.credit(f"seed:{no}", people[no].unit_id, people[no].id, pts, minutes=pts * 6, memo="社区环境清洁")
    org = ledger.issue_token("organizer", "丹桂社区组织者", unit_ids=[dangui.id]).secret
    return {"street": street, "dangui": dangui, "liuan": liuan, "c3": c3, "c5": c5, "b1": b1, "l1": l1, "people": people, "org": org}


def sign_in(page: Any, url: str, token: str, tab: str = "units", clock: Any = None) -> None:
    if clock is not None:  # the page's idea of now (upcoming / running / past) follows the server's test clock
        page.clock.install(time=clock.now())
    page.goto(f"{url}/pages/console#{tab}")
    page.evaluate("localStorage.setItem('mb.lang', 'zh')")
    page.fill("#token", token)
    page.click("#signin-go")
    page.wait_for_selector("#console:not(.hidden)")
    page.wait_for_selector("#unit-rows tr[data-unit]", state="attached")


def english(page: Any) -> None:
    page.click("[data-lang-switch]")
    page.wait_for_function("document.documentElement.lang === 'en'")


def chinese(page: Any) -> None:
    page.click("[data-lang-switch]")
    page.wait_for_function("document.documentElement.lang === 'zh-CN'")


def test_roster_import_and_organizer_scope(live_server: Any, page: Any, tmp_path: Path) -> None:
    n = neighbourhood(live_server.services)
    sign_in(page, live_server.url, n["org"])
    # Units: only the organizer's community and what is under it, with figures.
    names = page.locator("#unit-rows tr td:first-child").all_inner_texts()
    assert any("丹桂社区" in t for t in names) and not any("柳岸" in t for t in names)
    page.click(".periods [data-period='all']")
    page.wait_for_function("document.querySelector('#unit-kpis [data-fig=earned] .v').textContent === '75'")
    shot(page, "console-units")
    english(page)
    shot(page, "console-units-en")
    chinese(page)

    # Volunteers: a GB18030 roster through the page, its report shown.
    roster = tmp_path / "花名册.csv"
    roster.write_bytes((
        "姓名,会员号,所属单元,手机后四位\n"
        "孙丽华,DG-101,青禾街道/丹桂社区/3号小区/1栋,1357\n"
        "何文斌,DG-102,丹桂社区/5号小区,2468\n"
        "马晓燕,DG-103,丹桂志愿驿站,\n"
        "周海燕,DG-001,3号小区/1栋,1111\n"  # registered before: reported, not an error
        "林静,LA-009,青禾街道/柳岸社区/柳岸花园,3333\n"  # another community
        "罗小兵,DG-104,丹桂社区/9号小区,4444\n"  # no such unit
        "唐玉,DG-001,丹桂社区,5555\n"  # the number is someone else's (and repeated)
    ).encode("gb18030"))
    page.click(".rail [data-tab='volunteers']")
    page.set_input_files("#roster-file", str(roster))
    page.wait_for_selector("#roster-summary")
    summary = page.locator("#roster-summary").inner_text()
    assert "新登记 3 人" in summary and "已登记过 1 人" in summary and "未通过 3 行" in summary, summary
    reasons = page.locator("#roster-report tr[data-outcome='refused'] td:last-child").all_inner_texts()
    assert reasons == ["这个单元不在您的管辖范围", "找不到这个单元", "文件中会员号重复"], reasons
    with page.expect_download() as dl:
        page.click("#roster-refused")
    refused = dl.value.path().read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(refused)))
    assert rows[0][:3] == ["姓名", "会员号", "所属单元"] and len(rows) == 4 and rows[1][1] == "LA-009"
    assert live_server.services.ledger.find_volunteer_by_member_no("DG-102").name == "何文斌"

    # Search: by name, then the other community's people are not there at all.
    page.wait_for_function("document.querySelectorAll('#vol-results tr[data-id]').length >= 7", timeout=15000)
    listed = page.locator("#vol-results tr td:nth-child(2)").all_inner_texts()
    assert "孙丽华" in listed and "陈思远" not in listed and "林静" not in listed
    page.fill("#vol-q", "LA-001")
    page.click("#vol-go")
    page.wait_for_selector("#vol-results td.muted")
    page.fill("#vol-q", "")
    page.click("#vol-go")
    page.wait_for_selector("#vol-results tr[data-id]")
    page.click("#vol-results tr:has-text('周海燕')")
    page.wait_for_selector("#vd-balance")
    assert page.locator("#vd-balance").inner_text() == "40"
    top(page)
    shot(page, "console-volunteers")
    english(page)
    shot(page, "console-volunteers-en")
    chinese(page)
    # and through the API, with the same token
    other = n["people"]["LA-001"].id
    api = httpx.get(f"{live_server.url}/v1/volunteers/{other}", headers={"Authorization": f"Bearer {n['org']}"})
    assert api.status_code == 403


def test_activity_created_and_a_scan_seen_live(live_server: Any, browser: Any, page: Any) -> None:
    services = live_server.services
    n = neighbourhood(services)
    sign_in(page, live_server.url, n["org"], tab="activities", clock=services.clock)
    page.click(".rail [data-tab='activities']")
    page.fill("#act-title", "丹桂社区垃圾分类宣传")
    page.select_option("#act-unit", str(n["dangui"].id))
    now = services.clock.now().astimezone()
    page.fill("#act-starts", (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#act-ends", (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.fill("#act-pph", "12")
    page.fill("#act-capacity", "40")
    page.click("#act-create")
    page.wait_for_selector("#act-form[data-created]")
    activity_id = page.locator("#act-form").get_attribute("data-created")
    page.wait_for_selector(f"#act-list [data-id='{activity_id}'][data-phase='running']", timeout=15000)

    # The screen opens from the console's link.
    href = page.locator(f"#act-list [data-id='{activity_id}'] a").get_attribute("href")
    screen = page.context.new_page()
    screen.goto(live_server.url + href)
    screen.wait_for_function("document.querySelector('#qr') && (document.querySelector('#qr').dataset.code || '').startsWith('MB1.a.')", timeout=15000)
    code = screen.locator("#qr").get_attribute("data-code")
    screen.close()

    page.click(f"#act-list [data-id='{activity_id}'] .watch")
    page.wait_for_selector("#act-watch[data-checked-in='0']")
    volunteer = n["people"]["DG-002"]
    token = services.ledger.issue_token("volunteer", volunteer.name, subject_id=volunteer.id).secret
    scan = httpx.post(f"{live_server.url}/v1/scans", json={"code": code}, headers={"Authorization": f"Bearer {token}"})
    assert scan.status_code in (200, 201), scan.text
    page.wait_for_selector(f"#act-watch tr[data-volunteer='{volunteer.id}'][data-status='in']", timeout=15000)
    page.wait_for_function("document.querySelector(\"#act-watch tr[data-status='in'] .who\").textContent === '吴建国'", timeout=15000)
    assert page.locator("#act-watch").get_attribute("data-checked-in") == "1"
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "console-activities")
    english(page)
    shot(page, "console-activities-en")


def test_welfare_day_fixed_through_refused_csv(live_server: Any, page: Any, tmp_path: Path) -> None:
    services = live_server.services
    n = neighbourhood(services)
    before = {no: services.ledger.guarded_balance(volunteer_account(v.id)) for no, v in n["people"].items()}
    sign_in(page, live_server.url, n["org"], tab="welfare")
    page.click(".rail [data-tab='welfare']")
    page.select_option("#wd-unit", str(n["dangui"].id))
    page.fill("#wd-title", "3月5日学雷锋公益日")
    page.fill("#wd-cap", "50")
    day = tmp_path / "公益日.csv"
    day.write_bytes((
        "会员号,积分,时长,序号,备注\n"
        "DG-001,20,120,1,清扫楼道\n"
        "DG-002,15,90,2,清扫楼道\n"
        "DG-09X,10,60,3,写错的会员号\n"
        "DG-003,80,60,4,超过上限\n"
        "LA-001,10,60,5,别的社区\n"
        "DG-004,abc,60,6,积分写错\n"
    ).encode("gb18030"))
    page.set_input_files("#wd-file", str(day))
    page.wait_for_selector("#wd-out[data-status='finished']", timeout=20000)
    assert page.locator("#wd-accepted").inner_text() == "2"
    rows = page.locator("#wd-refused-lines tbody tr")
    assert rows.count() == 4
    assert page.locator("#wd-refused-lines tr[data-line='4'] td").nth(1).inner_text() == "DG-09X"
    assert page.locator("#wd-refused-lines tr[data-line='5'] td").last.inner_text() == "积分超过每行上限"
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "console-welfare")
    english(page)
    shot(page, "console-welfare-en")
    chinese(page)

    with page.expect_download() as dl:
        page.click("#wd-refused-csv")
    text = dl.value.path().read_bytes().decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    assert lines[0][:5] == ["会员号", "积分", "时长", "序号", "备注"] and len(lines) == 5
    # the organizer fixes the three that can be fixed and drops the other community's line
    fixes = {"DG-09X": ["DG-003", "10"], "DG-003": ["DG-003", "40"], "DG-004": ["DG-004", "12"]}
    fixed = [lines[0][:5]]
    for row in lines[1:]:
        if row[0] in fixes:
            no, pts = fixes[row[0]]
            fixed.append([no, pts, row[2], row[3] + "b", row[4]])
    out = io.StringIO()
    csv.writer(out).writerows(fixed)
    again = tmp_path / "refused-fixed.csv"
    again.write_bytes(out.getvalue().encode("utf-8-sig"))
    page.fill("#wd-title", "3月5日学雷锋公益日（补发）")
    page.set_input_files("#wd-file", str(again))
    page.wait_for_selector("#wd-out[data-status='finished']", timeout=20000)
    page.wait_for_function("(document.getElementById('wd-accepted') || {}).textContent === '3'")
    assert page.locator("#wd-refused-lines").count() == 0, page.locator("#wd-refused-lines").inner_text()
    # the same fixed file once more pays nothing twice
    page.set_input_files("#wd-file", str(again))
    page.wait_for_selector("#wd-out[data-status='finished']")
    after = {no: services.ledger.guarded_balance(volunteer_account(v.id)) for no, v in n["people"].items()}
    paid = {no: after[no] - before[no] for no in after}
    assert paid == {"DG-001": 20, "DG-002": 15, "DG-003": 50, "DG-004": 12, "LA-001": 0, "LA-002": 0}, paid


def test_shops_section_for_admins(live_server: Any, page: Any) -> None:
    services = live_server.services
    n = neighbourhood(services)
    shop, _ = services.alliance.register_merchant("好邻居便利店", n["c3"].id, address="丹桂路8号")
    services.alliance.create_offer(shop.id, "爱心米一袋", 20, stock=30)
    admin = services.settings.bootstrap_token.get_secret_value()
    sign_in(page, live_server.url, admin, tab="shops")
    page.click(".rail [data-tab='shops']")
    page.fill("#shop-name", "丹桂理发店")
    page.select_option("#shop-unit", str(n["c5"].id))
    page.fill("#shop-address", "丹桂路12号")
    page.click("#shop-go")
    page.wait_for_selector("#shop-once .secret")
    assert page.locator("#shop-once .secret").inner_text().startswith("mb_")
    page.wait_for_selector("#shop-list [data-id] >> text=丹桂理发店")
    page.click(f"#shop-list [data-id='{shop.id}'] button")
    page.wait_for_selector("#shop-detail h2:has-text('好邻居便利店')")
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "console-shops")
    # a token is shown only right after it is issued: a reload shows none
    page.reload()
    page.wait_for_selector("#console:not(.hidden)")
    assert page.locator(".secret").count() == 0
    english(page)
    page.click(f"#shop-list [data-id='{shop.id}'] button")
    page.wait_for_selector("#shop-detail h2:has-text('好邻居便利店')")
    shot(page, "console-shops-en")
    # the phone: the same console, tabs across the top
    page.set_viewport_size({"width": 390, "height": 844})
    chinese(page)
    page.click(".rail [data-tab='units']")
    shot(page, "console-phone")


def test_cards_in_the_console(live_server: Any, page: Any) -> None:
    """Volunteers: a card issued with a PIN typed here (a too-simple PIN refused in words), a
    volunteer registered with a PIN, several chosen and their cards printed (the HTML sheet in a new
    window, the PDF as a file), a card locked by wrong PINs unlocked; shops: the staff sign-in QR."""
    services = live_server.services
    n = neighbourhood(services)
    sign_in(page, live_server.url, n["org"], tab="volunteers")
    page.click(".rail [data-tab='volunteers']")
    page.wait_for_selector("#vol-results tr[data-id]")

    # a card for 周海燕, first with a PIN that is too simple: the problem code as a sentence
    page.click("#vol-results tr:has-text('周海燕') td:nth-child(2)")
    page.wait_for_selector("#vd-card-state")
    assert page.locator("#vd-card-state").inner_text() == "尚未办卡"
    page.fill("#vd-pin", "123456")
    page.click("#vd-card-issue")
    page.wait_for_selector("#vol-detail .msg.bad")
    assert page.locator("#vol-detail .msg.bad").inner_text() == "PIN 需为 6 位数字，且不能太简单"
    page.fill("#vd-pin", "482913")
    page.click("#vd-card-issue")
    page.wait_for_selector("#vol-detail .msg.ok")
    assert page.locator("#vd-card-state").inner_text() == "第 1 张卡"

    # register 孙丽华 with a PIN: her card is made with the registration
    page.fill("#reg-name", "孙丽华")
    page.fill("#reg-no", "DG-201")
    page.select_option("#reg-unit", str(n["c3"].id))
    page.fill("#reg-pin", "730415")
    page.click("#reg-go")
    page.wait_for_selector("#reg-print")
    page.click("#vol-go")
    page.wait_for_selector("#vol-results tr:has-text('孙丽华')")

    # choose two with cards and one without: the sheet is refused in words, then printed for two
    for name in ("周海燕", "孙丽华", "吴建国"):
        page.check(f"#vol-results tr:has-text('{name}') input.pick")
    assert "已选 3 人" in page.locator("#vol-picked").inner_text()
    with page.context.expect_page() as popup:
        page.click("#vol-print")
    page.wait_for_function("document.getElementById('vol-info').textContent.includes('还没办会员卡')")
    page.wait_for_timeout(300)
    assert popup.value.is_closed()  # the empty window opened at the tap is closed again
    page.uncheck("#vol-results tr:has-text('吴建国') input.pick")
    with page.context.expect_page() as popup:
        page.click("#vol-print")
    sheet = popup.value
    sheet.wait_for_selector(".mcard")
    names = sheet.locator(".mcard .name").all_inner_texts()
    assert sorted(names) == ["周海燕", "孙丽华"], names
    assert sheet.locator(".mcard [data-card-qr] svg").count() == 2
    sheet.close()
    with page.expect_download() as dl:
        page.click("#vol-print-pdf")
    assert dl.value.path().read_bytes().startswith(b"%PDF")
    top(page)
    shot(page, "console-cards")
    english(page)
    shot(page, "console-cards-en")
    chinese(page)

    # five wrong PINs on the phone lock the card; the organizer sees it and unlocks it
    card = httpx.get(f"{live_server.url}/v1/volunteers/{n['people']['DG-001'].id}/card",
                     headers={"Authorization": f"Bearer {n['org']}"}).json()
    for _ in range(5):
        httpx.post(f"{live_server.url}/v1/card-sessions", json={"card_code": card["code"], "pin": "000111"})
    page.click("#vol-results tr:has-text('周海燕') td:nth-child(2)")
    page.wait_for_selector("#vd-card-state.locked")
    assert "已锁定" in page.locator("#vd-card-state").inner_text()
    to_card = "document.getElementById('vd-card-state').scrollIntoView({block: 'center'})"
    page.evaluate(to_card)
    shot(page, "console-card-locked")
    english(page)
    page.wait_for_function("document.getElementById('vd-card-state').textContent.includes('locked')")
    page.evaluate(to_card)
    shot(page, "console-card-locked-en")
    chinese(page)
    page.wait_for_selector("#vd-card-unlock")
    page.click("#vd-card-unlock")
    page.wait_for_selector("#vd-card-state:not(.locked)")
    assert page.locator("#vol-detail .msg.ok").inner_text() == "已解锁"
    ok = httpx.post(f"{live_server.url}/v1/card-sessions", json={"card_code": card["code"], "pin": "482913"})
    assert ok.status_code == 201, ok.text

    # shops (admins): the staff sign-in link as a QR, shown once
    shop, _ = services.alliance.register_merchant("好邻居便利店", n["c3"].id, address="丹桂路8号")
    page.click("#signout")
    sign_in(page, live_server.url, services.settings.bootstrap_token.get_secret_value(), tab="shops")
    page.click(".rail [data-tab='shops']")
    page.click(f"#shop-list [data-id='{shop.id}'] button")
    page.click("#shop-signin-go")
    page.wait_for_selector("#shop-signin img.qr")
    assert "只能使用一次" in page.locator("#shop-signin").inner_text()
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "console-shop-signin")
    english(page)
    shot(page, "console-shop-signin-en")
