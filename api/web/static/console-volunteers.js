// Volunteers: search (paged), register, import a roster with a per-line report, a volunteer's
// account and history, move home, member cards (the cards API: issue / re-issue, print a sheet).
(function () {
  MB.add({
    "vol.search": ["查找志愿者", "Find volunteers"], "vol.q": ["姓名、会员号或手机后四位", "Name, member number or phone's last four"],
    "vol.unit.any": ["全部单元", "All my units"], "vol.go": ["查找", "Search"], "vol.more": ["下一页", "Next page"], "vol.first": ["第一页", "First page"],
    "vol.col.name": ["姓名", "Name"], "vol.col.no": ["会员号", "Member no."], "vol.col.unit": ["所属单元", "Home unit"], "vol.col.phone": ["手机尾号", "Phone"],
    "vol.none": ["没有找到志愿者", "No volunteers found"], "vol.count": ["本页 {n} 人", "{n} on this page"],
    "vol.print": ["打印本页会员卡", "Print member cards of this page"], "vol.print.none": ["本页没有人办了会员卡", "Nobody on this page has a card yet"],
    "vol.register": ["登记志愿者", "Register a volunteer"], "vol.name": ["姓名", "Name"], "vol.memberno": ["会员号", "Member number"],
    "vol.phone": ["手机后四位", "Phone's last four"], "vol.home": ["所属单元", "Home unit"], "vol.pin": ["会员卡 PIN（6 位数字，可不填）", "Card PIN (6 digits, optional)"],
    "vol.registered": ["已登记：{name}", "Registered: {name}"], "vol.registered.card": ["已登记：{name}，会员卡已办理", "Registered: {name}, with a member card"],
    "roster.title": ["导入花名册", "Import a roster"],
    "roster.hint": ["CSV 文件（Excel 另存为 CSV 即可，UTF-8 或 GB18030）：姓名、会员号、所属单元（如 青禾街道/丹桂社区/3号小区）、手机后四位。会员号相同的人不会重复登记，可放心重复上传。", "A CSV file (save from Excel; UTF-8 or GB18030): name, member number, home unit (e.g. 青禾街道/丹桂社区/3号小区), phone's last four. The member number is the key: uploading again registers nobody twice."],
    "roster.drop": ["点击选择或拖入花名册 CSV 文件", "Click to choose, or drop the roster CSV here"],
    "roster.working": ["正在导入 {name}…", "Importing {name}…"],
    "roster.sum": ["共 {total} 行：新登记 {registered} 人，已登记过 {already} 人，未通过 {refused} 行", "{total} lines: {registered} registered, {already} already registered, {refused} refused"],
    "roster.col.line": ["行号", "Line"], "roster.col.outcome": ["结果", "Outcome"], "roster.col.reason": ["原因", "Reason"],
    "roster.refused.csv": ["下载未通过的行 (refused.csv)", "Download refused lines (refused.csv)"],
    "outcome.registered": ["已登记", "Registered"], "outcome.already_registered": ["早已登记", "Already registered"], "outcome.refused": ["未通过", "Refused"],
    "reason.unreadable_line": ["这一行无法读取", "This line cannot be read"], "reason.invalid_name": ["姓名为空或不合规", "The name is empty or not allowed"],
    "reason.missing_member_no": ["缺少会员号", "No member number"], "reason.invalid_member_no": ["会员号不合规（最多 40 个字符）", "The member number is not allowed (at most 40 characters)"],
    "reason.invalid_phone_last4": ["手机后四位应为 4 位数字", "Phone's last four must be 4 digits"], "reason.missing_unit": ["缺少所属单元", "No home unit"],
    "reason.unknown_unit": ["找不到这个单元", "No such unit"], "reason.ambiguous_unit": ["有多个同名单元，请写完整路径", "Several units have this name; write the full path"],
    "reason.unit_out_of_scope": ["这个单元不在您的管辖范围", "This unit is outside your units"], "reason.duplicate_line": ["文件中会员号重复", "The member number appears twice in the file"],
    "reason.member_no_taken_by_other": ["会员号已被其他人使用", "The member number belongs to someone else"],
    "vd.title": ["志愿者详情", "Volunteer"], "vd.balance": ["积分余额", "Balance"], "vd.earned": ["累计获得", "Earned"], "vd.redeemed": ["已兑换", "Redeemed"], "vd.minutes": ["服务分钟", "Minutes"],
    "vd.history": ["积分明细", "History"], "vd.col.time": ["时间", "Time"], "vd.col.kind": ["类型", "Kind"], "vd.col.amount": ["积分", "Points"], "vd.col.memo": ["说明", "Memo"],
    "vd.move": ["迁移住址", "Move home"], "vd.movego": ["迁移", "Move"], "vd.moved": ["已迁移到 {unit}", "Moved to {unit}"],
    "vd.card": ["会员卡", "Member card"], "vd.card.none": ["尚未办卡", "No card yet"], "vd.card.serial": ["第 {serial} 张卡{locked}", "Card no. {serial}{locked}"],
    "vd.card.locked": ["（已锁定）", " (locked)"], "vd.card.newpin": ["新 PIN（6 位数字）", "New PIN (6 digits)"], "vd.card.issue": ["补办 / 办理会员卡", "Issue / re-issue card"],
    "vd.card.issued": ["已办理第 {serial} 张卡，旧卡已作废", "Card no. {serial} issued; the old card no longer works"],
    "vd.card.unlock": ["解锁", "Unlock"], "vd.card.unlocked": ["已解锁", "Unlocked"], "vd.card.print": ["打印这张卡", "Print this card"], "vd.close": ["关闭", "Close"],
    "entry.credit": ["发放", "Credit"], "entry.activity": ["志愿活动", "Activity"], "entry.redemption": ["兑换", "Redemption"], "entry.reversal": ["撤销", "Reversal"],
    "entry.batch": ["公益日", "Welfare day"], "entry.payment": ["付款", "Payment"], "entry.expiry": ["过期", "Expiry"],
  });
  const el = (...a) => C.el(...a);
  const st = { cursors: [], cursor: null, rows: [] };
  let pane, q, unitSel, results, pager, info, detail, rosterBox, regUnit, moveSel;

  async function search(cursor) {
    const params = new URLSearchParams({ limit: "20" });
    if (q.value.trim()) params.set("q", q.value.trim());
    if (unitSel.value) params.set("unit_id", unitSel.value);
    if (cursor) params.set("cursor", cursor);
    try {
      const r = await C.api("GET", "/v1/volunteers?" + params);
      st.rows = r.items; st.next = r.next_cursor; st.cursor = cursor;
      results.replaceChildren(...r.items.map((v) => el("tr", { class: "clickable", dataset: { id: v.id }, onclick: () => open(v.id) },
        el("td", { text: v.name }), el("td", { text: v.member_no || "—" }), el("td", { text: v.unit_path.join(" / ") }),
        el("td", { class: "hide-phone", text: v.phone_last4 || "—" }))));
      if (!r.items.length) results.append(el("tr", {}, el("td", { colspan: 4, class: "muted", i18n: "vol.none" })));
      info.textContent = MB.t("vol.count", { n: r.items.length });
      pager.querySelector(".next").disabled = !r.next_cursor;
      pager.querySelector(".first").disabled = !cursor;
    } catch (err) { info.textContent = C.problem(err); }
  }

  async function printCards(ids) {
    try {
      const res = await C.raw("GET", "/v1/cards/sheet?format=pdf&volunteer_ids=" + ids.map(encodeURIComponent).join(","), { accept: "application/pdf" });
      window.open(URL.createObjectURL(await res.blob()), "_blank");
      return true;
    } catch (err) { info.textContent = err.problem && err.problem.code === "card_not_issued" ? MB.t("vol.print.none") : C.problem(err); return false; }
  }

  async function open(id) {
    detail.classList.remove("hidden");
    const msg = el("div", { class: "msg hidden", role: "status" });
    detail.replaceChildren(el("p", { class: "muted", i18n: "c.loading" }));
    try {
      const [v, acct, entries] = await Promise.all([
        C.api("GET", "/v1/volunteers/" + id), C.api("GET", "/v1/volunteers/" + id + "/account"), C.api("GET", "/v1/volunteers/" + id + "/entries?limit=20")]);
      let card = null;
      try { card = await C.api("GET", "/v1/volunteers/" + id + "/card?format=json"); } catch (e) { card = null; }
      moveSel = el("select", { id: "vd-move-unit" }); C.unitOptions(moveSel); moveSel.value = v.unit_id;
      const pin = el("input", { id: "vd-pin", inputmode: "numeric", maxlength: 6, autocomplete: "off" });
      const cardLine = el("p", { id: "vd-card-state", text: card ? MB.t("vd.card.serial", { serial: card.serial, locked: card.locked ? MB.t("vd.card.locked") : "" }) : MB.t("vd.card.none") });
      detail.replaceChildren(
        el("div", { class: "section-head" }, el("h2", {}, el("span", { id: "vd-name", text: v.name }), el("span", { class: "pill", text: v.member_no || "—" })),
          el("button", { class: "secondary small", i18n: "vd.close", onclick: () => detail.classList.add("hidden") })),
        el("p", { class: "muted", text: C.unitName(v.unit_id) }),
        el("div", { class: "kpis" }, ...[["balance", "vd.balance"], ["earned", "vd.earned"], ["redeemed", "vd.redeemed"], ["minutes", "vd.minutes"]].map(([k, l]) =>
          el("div", { class: "kpi" }, el("div", { class: "v", id: "vd-" + k, text: C.n(acct[k]) }), el("div", { class: "k", i18n: l })))),
        el("div", { class: "two" },
          el("div", {}, el("h3", { i18n: "vd.move" }), el("div", { class: "row" }, moveSel, el("button", { class: "secondary", i18n: "vd.movego", onclick: async () => {
            try { await C.api("POST", "/v1/volunteers/" + id + "/move", { body: { unit_id: moveSel.value } }); C.say(msg, "ok", MB.t("vd.moved", { unit: C.unitName(moveSel.value) })); }
            catch (err) { C.say(msg, "bad", C.problem(err)); } } }))),
          el("div", {}, el("h3", { i18n: "vd.card" }), cardLine,
            el("label", { for: "vd-pin", i18n: "vd.card.newpin" }),
            el("div", { class: "row" }, pin, el("button", { id: "vd-card-issue", class: "secondary", i18n: "vd.card.issue", onclick: async () => {
              try { const c = await C.api("POST", "/v1/volunteers/" + id + "/card", { body: { pin: pin.value } }); pin.value = "";
                C.say(msg, "ok", MB.t("vd.card.issued", { serial: c.serial })); cardLine.textContent = MB.t("vd.card.serial", { serial: c.serial, locked: "" }); }
              catch (err) { C.say(msg, "bad", C.problem(err)); } } })),
            el("div", { class: "actions", style: "margin-top:8px" },
              card && card.locked ? el("button", { class: "secondary small", i18n: "vd.card.unlock", onclick: async () => {
                try { await C.api("POST", "/v1/volunteers/" + id + "/card/unlock"); C.say(msg, "ok", MB.t("vd.card.unlocked")); } catch (err) { C.say(msg, "bad", C.problem(err)); } } }) : "",
              card ? el("button", { class: "secondary small", i18n: "vd.card.print", onclick: () => printCards([id]) }) : ""))),
        msg,
        el("h3", { i18n: "vd.history", style: "margin-top:14px" }),
        el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { i18n: "vd.col.time" }), el("th", { i18n: "vd.col.kind" }), el("th", { class: "num", i18n: "vd.col.amount" }), el("th", { i18n: "vd.col.memo" }))),
          el("tbody", { id: "vd-entries" }, ...entries.items.map((e) => el("tr", {}, el("td", { text: MB.fmtTime(e.at) }), el("td", { text: MB.t("entry." + e.kind) }),
            el("td", { class: "num", text: (e.amount > 0 ? "+" : "") + e.amount }), el("td", { text: e.memo })))))),
      );
      detail.scrollIntoView({ behavior: "smooth", block: "start" });
    } catch (err) { detail.replaceChildren(el("div", { class: "msg bad", text: C.problem(err) })); }
  }

  async function importRoster(file) {
    const out = rosterBox.querySelector(".report");
    out.replaceChildren(el("div", { class: "msg info", text: MB.t("roster.working", { name: file.name }) }));
    try {
      const res = await C.raw("POST", "/v1/rosters", { body: file, type: "text/csv" });
      const r = await res.json();
      const refused = r.lines.filter((l) => l.outcome === "refused");
      const table = el("table", { id: "roster-report" }, el("thead", {}, el("tr", {}, el("th", { i18n: "roster.col.line" }), el("th", { i18n: "vol.col.name" }),
        el("th", { i18n: "vol.col.no" }), el("th", { i18n: "vol.col.unit" }), el("th", { i18n: "roster.col.outcome" }), el("th", { i18n: "roster.col.reason" }))),
        el("tbody", {}, ...r.lines.map((l) => el("tr", { dataset: { outcome: l.outcome, reason: l.reason || "" } }, el("td", { text: l.line }), el("td", { text: l.name }),
          el("td", { text: l.member_no }), el("td", { text: l.unit }),
          el("td", {}, el("span", { class: "badge " + (l.outcome === "refused" ? "bad" : l.outcome === "registered" ? "ok" : "off"), text: MB.t("outcome." + l.outcome) })),
          el("td", { text: l.reason ? MB.t("reason." + l.reason) : "" })))));
      const sum = el("div", { id: "roster-summary", class: "msg " + (refused.length ? "info" : "ok"),
        text: MB.t("roster.sum", { total: r.lines_total, registered: r.registered, already: r.already_registered, refused: r.refused }) });
      const dl = refused.length ? el("button", { class: "secondary small", id: "roster-refused", i18n: "roster.refused.csv", onclick: () =>
        C.download(new Blob([C.csv([[...r.header, "拒绝原因 reason"], ...refused.map((l) => [...(l.cells.length ? l.cells : []), MB.t("reason." + l.reason)])])], { type: "text/csv" }), "refused.csv") }) : "";
      out.replaceChildren(sum, dl, el("div", { class: "table-wrap" }, table));
      C.loadUnits().catch(() => {});
      setTimeout(() => search(null), 600);
    } catch (err) { out.replaceChildren(el("div", { class: "msg bad", id: "roster-error", text: C.problem(err) })); }
  }

  function dropZone(id, label, onFile) {
    const input = el("input", { type: "file", accept: ".csv,text/csv", id });
    const zone = el("label", { class: "drop", for: id }, el("span", { i18n: label }), input);
    input.addEventListener("change", () => { if (input.files[0]) onFile(input.files[0]); input.value = ""; });
    zone.addEventListener("dragover", (e) => { e.preventDefault(); zone.classList.add("over"); });
    zone.addEventListener("dragleave", () => zone.classList.remove("over"));
    zone.addEventListener("drop", (e) => { e.preventDefault(); zone.classList.remove("over"); if (e.dataTransfer.files[0]) onFile(e.dataTransfer.files[0]); });
    return zone;
  }
  C.dropZone = dropZone;

  function registerForm() {
    const msg = el("div", { class: "msg hidden", role: "status" });
    const f = { name: el("input", { id: "reg-name", maxlength: 100 }), member_no: el("input", { id: "reg-no", maxlength: 40 }),
      phone_last4: el("input", { id: "reg-phone", inputmode: "numeric", maxlength: 4 }), pin: el("input", { id: "reg-pin", inputmode: "numeric", maxlength: 6, autocomplete: "off" }) };
    regUnit = el("select", { id: "reg-unit" });
    const form = el("form", { class: "card" }, el("h3", { i18n: "vol.register" }),
      el("label", { i18n: "vol.name", for: "reg-name" }), f.name,
      el("div", { class: "row" }, el("div", {}, el("label", { i18n: "vol.memberno", for: "reg-no" }), f.member_no), el("div", {}, el("label", { i18n: "vol.phone", for: "reg-phone" }), f.phone_last4)),
      el("label", { i18n: "vol.home", for: "reg-unit" }), regUnit,
      el("label", { i18n: "vol.pin", for: "reg-pin" }), f.pin,
      el("div", { style: "margin-top:12px" }, el("button", { type: "submit", id: "reg-go", i18n: "vol.register" })), msg);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { name: f.name.value, unit_id: regUnit.value };
      for (const k of ["member_no", "phone_last4", "pin"]) if (f[k].value.trim()) body[k] = f[k].value.trim();
      try {
        const r = await C.api("POST", "/v1/volunteers", { body });
        // The reply carries the volunteer's token once; the console does not show it: the member card and PIN are how residents sign in.
        C.say(msg, "ok", MB.t(body.pin ? "vol.registered.card" : "vol.registered", { name: r.volunteer.name }));
        for (const k of Object.keys(f)) f[k].value = "";
      } catch (err) { C.say(msg, "bad", C.problem(err)); }
    });
    return form;
  }

  C.register("volunteers", {
    init() {
      pane = document.getElementById("pane-volunteers");
      q = el("input", { id: "vol-q", type: "search", "data-i18n-placeholder": "vol.q", placeholder: MB.t("vol.q") });
      unitSel = el("select", { id: "vol-unit" });
      results = el("tbody", { id: "vol-results" });
      info = el("span", { class: "muted", id: "vol-info" });
      pager = el("div", { class: "pager" },
        el("button", { class: "secondary small first", i18n: "vol.first", onclick: () => search(null) }),
        el("button", { class: "secondary small next", id: "vol-next", i18n: "vol.more", onclick: () => search(st.next) }),
        el("button", { class: "secondary small", id: "vol-print", i18n: "vol.print", onclick: () => printCards(st.rows.map((v) => v.id)) }));
      const form = el("form", { class: "row" }, q, unitSel, el("button", { type: "submit", id: "vol-go", i18n: "vol.go" }));
      form.addEventListener("submit", (e) => { e.preventDefault(); search(null); });
      detail = el("div", { class: "card hidden", id: "vol-detail" });
      rosterBox = el("div", { class: "card", id: "roster" }, el("h3", { i18n: "roster.title" }), el("p", { class: "hint", i18n: "roster.hint" }),
        dropZone("roster-file", "roster.drop", importRoster), el("div", { class: "report" }));
      pane.replaceChildren(
        el("div", { class: "card" }, el("div", { class: "section-head" }, el("h2", { i18n: "vol.search" }), info), form,
          el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { i18n: "vol.col.name" }), el("th", { i18n: "vol.col.no" }),
            el("th", { i18n: "vol.col.unit" }), el("th", { class: "hide-phone", i18n: "vol.col.phone" }))), results)), pager),
        detail, el("div", { class: "two" }, registerForm(), rosterBox));
      this.relabel();
    },
    shown() { search(null); },
    relabel() { if (unitSel) { C.unitOptions(unitSel, { any: MB.t("vol.unit.any") }); C.unitOptions(regUnit); if (C.current === "volunteers") search(st.cursor); } },
  });
  document.addEventListener("console:units", () => { const s = C.sections.volunteers; if (unitSel) s.relabel(); });
})();
