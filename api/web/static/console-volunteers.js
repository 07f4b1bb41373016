// Volunteers: search (paged), register, import a roster with a per-line report, a volunteer's
// account and history, move home, member cards (the cards API: issue / re-issue with a PIN typed
// here, unlock, print the chosen volunteers' cards as an HTML sheet or a PDF).
(function () {
  MB.add({
    "vol.search": ["查找志愿者", "Find volunteers"], "vol.q": ["姓名、会员号或手机后四位", "Name, member number or phone's last four"],
    "vol.unit.any": ["全部单元", "All my units"], "vol.go": ["查找", "Search"], "vol.more": ["下一页", "Next page"], "vol.first": ["第一页", "First page"],
    "vol.col.name": ["姓名", "Name"], "vol.col.no": ["会员号", "Member no."], "vol.col.unit": ["所属单元", "Home unit"], "vol.col.phone": ["手机尾号", "Phone"],
    "vol.none": ["没有找到志愿者", "No volunteers found"], "vol.count": ["本页 {n} 人", "{n} on this page"],
    "vol.print": ["打印选中的会员卡", "Print the chosen cards"], "vol.print.pdf": ["下载 PDF", "Download PDF"],
    "vol.print.none": ["选中的人里有人还没办会员卡，请先办卡", "Someone chosen has no member card yet: issue it first"],
    "vol.pick": ["选择", "Choose"], "vol.pick.page": ["全选本页", "Choose this page"], "vol.pick.clear": ["清空", "Clear"],
    "vol.picked": ["已选 {n} 人", "{n} chosen"], "vol.picked.none": ["勾选志愿者后可批量打印会员卡（每页 8 张）", "Tick volunteers to print their member cards (8 a page)"],
    "vol.print.opened": ["会员卡已在新窗口打开，请用浏览器打印（A4）", "The cards opened in a new window: print them from the browser (A4)"],
    "vol.print.blocked": ["浏览器拦截了新窗口，请允许弹出窗口或下载 PDF", "The browser blocked the new window: allow pop-ups, or download the PDF"],
    "vol.registered.print": ["打印这张会员卡", "Print this member card"],
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
    "vd.card.locked": ["（PIN 输错太多次，已锁定）", " (locked: too many wrong PINs)"], "vd.card.tries": ["，还可试 {n} 次", ", {n} tries left"], "vd.card.newpin": ["新 PIN（6 位数字）", "New PIN (6 digits)"], "vd.card.issue": ["补办 / 办理会员卡", "Issue / re-issue card"],
    "vd.card.issued": ["已办理第 {serial} 张卡，旧卡已作废", "Card no. {serial} issued; the old card no longer works"],
    "vd.card.unlock": ["解锁", "Unlock"], "vd.card.unlocked": ["已解锁", "Unlocked"], "vd.card.print": ["打印这张卡", "Print this card"], "vd.close": ["关闭", "Close"],
    "entry.credit": ["发放", "Credit"], "entry.activity": ["志愿活动", "Activity"], "entry.redemption": ["兑换", "Redemption"], "entry.reversal": ["撤销", "Reversal"],
    "entry.award": ["积分奖励", "Award"],
    "entry.batch": ["公益日", "Welfare day"], "entry.payment": ["付款", "Payment"], "entry.expiry": ["过期", "Expiry"],
  });
  const el = (...a) => C.el(...a);
  const st = { cursors: [], cursor: null, rows: [] };
  const picked = new Map(); // volunteer id -> name: the cards to print, kept across searches and pages
  let pane, q, unitSel, results, pager, info, detail, rosterBox, regUnit, moveSel, pickBar;

  function renderPicked() {
    if (!pickBar) return;
    const n = picked.size;
    pickBar.querySelector(".picked").textContent = n ? MB.t("vol.picked", { n }) + (MB.lang === "zh" ? "：" : ": ") + [...picked.values()].slice(0, 8).join(MB.lang === "zh" ? "、" : ", ") + (n > 8 ? "…" : "") : MB.t("vol.picked.none");
    pickBar.querySelectorAll("button.needs-pick").forEach((b) => { b.disabled = !n; });
    results.querySelectorAll("input.pick").forEach((c) => { c.checked = picked.has(c.dataset.id); });
  }
  function pick(v, on) { if (on) picked.set(v.id, v.name); else picked.delete(v.id); renderPicked(); }

  async function search(cursor) {
    const params = new URLSearchParams({ limit: "20" });
    if (q.value.trim()) params.set("q", q.value.trim());
    if (unitSel.value) params.set("unit_id", unitSel.value);
    if (cursor) params.set("cursor", cursor);
    try {
      const r = await C.api("GET", "/v1/volunteers?" + params);
      st.rows = r.items; st.next = r.next_cursor; st.cursor = cursor;
      results.replaceChildren(...r.items.map((v) => el("tr", { class: "clickable", dataset: { id: v.id }, onclick: () => open(v.id) },
        el("td", { class: "pick-cell", onclick: (e) => e.stopPropagation() },
          el("input", { type: "checkbox", class: "pick", "aria-label": MB.t("vol.pick") + " " + v.name, dataset: { id: v.id }, onchange: (e) => pick(v, e.target.checked) })),
        el("td", { text: v.name }), el("td", { text: v.member_no || "—" }), el("td", { text: v.unit_path.join(" / ") }),
        el("td", { class: "hide-phone", text: v.phone_last4 || "—" }))));
      if (!r.items.length) results.append(el("tr", {}, el("td", { colspan: 5, class: "muted", i18n: "vol.none" })));
      renderPicked();
      info.textContent = MB.t("vol.count", { n: r.items.length });
      pager.querySelector(".next").disabled = !r.next_cursor;
      pager.querySelector(".first").disabled = !cursor;
    } catch (err) { info.textContent = C.problem(err); }
  }

  // The card sheet of chosen volunteers: print-ready HTML in a new window (opened at the tap, so no
  // pop-up blocker stops it; the sheet is fetched with the organizer's token), or the PDF as a file.
  const sheetPath = (ids, format) => "/v1/cards/sheet?format=" + format + "&per_page=8&volunteer_ids=" + ids.map(encodeURIComponent).join(",");
  async function printCards(ids, box) {
    const say = (kind, text) => (box ? C.say(box, kind, text) : (info.textContent = text));
    const win = window.open("", "_blank");
    try {
      const res = await C.raw("GET", sheetPath(ids, "html"), { accept: "text/html" });
      const url = URL.createObjectURL(new Blob([await res.text()], { type: "text/html" }));
      if (!win) { say("bad", MB.t("vol.print.blocked")); return false; }
      win.location.href = url;
      say("ok", MB.t("vol.print.opened"));
      return true;
    } catch (err) {
      if (win) win.close();
      say("bad", err.problem && err.problem.code === "card_not_issued" ? MB.t("vol.print.none") : C.problem(err));
      return false;
    }
  }
  async function pdfCards(ids, box) {
    const say = (kind, text) => (box ? C.say(box, kind, text) : (info.textContent = text));
    try {
      const res = await C.raw("GET", sheetPath(ids, "pdf"), { accept: "application/pdf" });
      C.download(await res.blob(), "member-cards.pdf");
      return true;
    } catch (err) { say("bad", err.problem && err.problem.code === "card_not_issued" ? MB.t("vol.print.none") : C.problem(err)); return false; }
  }

  async function open(id) {
    detail.classList.remove("hidden");
    const msg = el("div", { class: "msg hidden", role: "status" });
    detail.replaceChildren(el("p", { class: "muted", i18n: "c.loading" }));
    try {
      const [v, acct, entries] = await Promise.all([
        C.api("GET", "/v1/volunteers/" + id), C.api("GET", "/v1/volunteers/" + id + "/account"), C.api("GET", "/v1/volunteers/" + id + "/entries?limit=20")]);
      let card = null; // no card yet: card_not_issued
      try { card = await C.api("GET", "/v1/volunteers/" + id + "/card?format=json"); } catch (e) { card = null; }
      moveSel = el("select", { id: "vd-move-unit" }); C.unitOptions(moveSel); moveSel.value = v.unit_id;
      const pin = el("input", { id: "vd-pin", inputmode: "numeric", maxlength: 6, autocomplete: "off" });
      const cardText = (c) => c ? MB.t("vd.card.serial", { serial: c.serial, locked: c.locked ? MB.t("vd.card.locked")
        : (c.tries_left < 5 ? MB.t("vd.card.tries", { n: c.tries_left }) : "") }) : MB.t("vd.card.none");
      const cardLine = el("p", { id: "vd-card-state", class: card && card.locked ? "locked" : "", text: cardText(card) });
      const cardActions = el("div", { class: "actions", style: "margin-top:8px" });
      const showCard = (c) => {
        card = c;
        cardLine.textContent = cardText(c); cardLine.className = c && c.locked ? "locked" : "";
        cardActions.replaceChildren(
          c && c.locked ? el("button", { id: "vd-card-unlock", class: "small", i18n: "vd.card.unlock", onclick: async () => {
            try { showCard(await C.api("POST", "/v1/volunteers/" + id + "/card/unlock")); C.say(msg, "ok", MB.t("vd.card.unlocked")); } catch (err) { C.say(msg, "bad", C.problem(err)); } } }) : "",
          c ? el("button", { id: "vd-card-print", class: "secondary small", i18n: "vd.card.print", onclick: () => printCards([id], msg) }) : "",
          c ? el("button", { id: "vd-card-pdf", class: "secondary small", i18n: "vol.print.pdf", onclick: () => pdfCards([id], msg) }) : "");
      };
      showCard(card);
      st.relabelDetail = () => showCard(card); // the card's line is text, not a data-i18n key
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
                C.say(msg, "ok", MB.t("vd.card.issued", { serial: c.serial })); showCard(c); }
              catch (err) { C.say(msg, "bad", C.problem(err)); } } })),
            cardActions)),
        msg,
        el("h3", { i18n: "vd.history", style: "margin-top:14px" }),
        el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { i18n: "vd.col.time" }), el("th", { i18n: "vd.col.kind" }), el("th", { class: "num", i18n: "vd.col.amount" }), el("th", { i18n: "vd.col.memo" }))),
          el("tbody", { id: "vd-entries" }, ...entries.items.map((e) => el("tr", {}, el("td", { text: MB.fmtTime(e.at) }), el("td", { text: MB.t("entry." + e.kind) === "entry." + e.kind ? e.kind : MB.t("entry." + e.kind) }),
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
        if (body.pin) msg.append(" ", el("button", { type: "button", class: "secondary small", id: "reg-print", i18n: "vol.registered.print", onclick: () => printCards([r.volunteer.id], msg) }));
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
        el("button", { class: "secondary small next", id: "vol-next", i18n: "vol.more", onclick: () => search(st.next) }));
      pickBar = el("div", { class: "pick-bar", id: "vol-picked" },
        el("span", { class: "picked" }),
        el("div", { class: "actions" },
          el("button", { class: "secondary small", id: "vol-pick-page", i18n: "vol.pick.page", onclick: () => { for (const v of st.rows) picked.set(v.id, v.name); renderPicked(); } }),
          el("button", { class: "secondary small needs-pick", id: "vol-pick-clear", i18n: "vol.pick.clear", onclick: () => { picked.clear(); renderPicked(); } }),
          el("button", { class: "small needs-pick", id: "vol-print", i18n: "vol.print", onclick: () => printCards([...picked.keys()]) }),
          el("button", { class: "secondary small needs-pick", id: "vol-print-pdf", i18n: "vol.print.pdf", onclick: () => pdfCards([...picked.keys()]) })));
      const form = el("form", { class: "row" }, q, unitSel, el("button", { type: "submit", id: "vol-go", i18n: "vol.go" }));
      form.addEventListener("submit", (e) => { e.preventDefault(); search(null); });
      detail = el("div", { class: "card hidden", id: "vol-detail" });
      rosterBox = el("div", { class: "card", id: "roster" }, el("h3", { i18n: "roster.title" }), el("p", { class: "hint", i18n: "roster.hint" }),
        dropZone("roster-file", "roster.drop", importRoster), el("div", { class: "report" }));
      pane.replaceChildren(
        el("div", { class: "card" }, el("div", { class: "section-head" }, el("h2", { i18n: "vol.search" }), info), form,
          el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { class: "pick-cell", "aria-label": MB.t("vol.pick") }, "✓"), el("th", { i18n: "vol.col.name" }), el("th", { i18n: "vol.col.no" }),
            el("th", { i18n: "vol.col.unit" }), el("th", { class: "hide-phone", i18n: "vol.col.phone" }))), results)), pager, pickBar),
        detail, el("div", { class: "two" }, registerForm(), rosterBox));
      this.relabel();
    },
    shown() { search(null); },
    relabel() { renderPicked(); if (st.relabelDetail) st.relabelDetail(); if (unitSel) { C.unitOptions(unitSel, { any: MB.t("vol.unit.any") }); C.unitOptions(regUnit); if (C.current === "volunteers") search(st.cursor); } },
  });
  document.addEventListener("console:units", () => { const s = C.sections.volunteers; if (unitSel) s.relabel(); });
})();
