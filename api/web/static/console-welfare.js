// Welfare day (公益日批量发放): unit, title, per-line cap, drop the file; live progress; totals;
// refused lines with the line's own values (read from the file on this device) and the reason in
// words; refused.csv from the server = the original columns plus the reason, to fix and upload
// again (joined here from the uploaded file if the server cannot give it); reversal.
(function () {
  MB.add({
    "wd.title": ["公益日批量发放", "Welfare day credits"], "wd.unit": ["发放单元（积分来源）", "Unit (the points come from it)"],
    "wd.name": ["活动名称", "Title"], "wd.name.ph": ["如：3月5日学雷锋公益日", "e.g. Lei Feng day, 5 March"], "wd.cap": ["每行积分上限", "Most points per line"],
    "wd.hint": ["CSV 文件（UTF-8 或 GB18030）：会员号 或 志愿者ID、积分，可选 时长、序号、备注。同一文件重复上传不会重复发放。", "A CSV (UTF-8 or GB18030): member number or volunteer id, points; optional minutes, line key, memo. Uploading the same file again pays nothing twice."],
    "wd.drop": ["点击选择或拖入发放文件 CSV", "Click to choose, or drop the credits CSV here"], "wd.needtitle": ["请先填写活动名称并选择单元", "Fill in the title and choose the unit first"],
    "wd.uploading": ["正在上传 {name}…", "Uploading {name}…"], "wd.status.running": ["发放中", "Running"], "wd.status.finished": ["已完成", "Finished"], "wd.status.failed": ["失败", "Failed"],
    "wd.accepted": ["成功发放（行）", "Lines paid"], "wd.points": ["发放积分", "Points paid"], "wd.refused": ["未通过（行）", "Lines refused"], "wd.minutes": ["服务分钟", "Minutes"],
    "wd.refused.title": ["未通过的行", "Refused lines"], "wd.refused.csv": ["下载 refused.csv（改正后可直接重新上传）", "Download refused.csv (fix it and upload it again)"],
    "wd.col.line": ["行号", "Line"], "wd.col.who": ["志愿者 / 会员号", "Volunteer / member no."], "wd.col.points": ["积分", "Points"], "wd.col.key": ["序号", "Line key"],
    "wd.col.memo": ["备注", "Memo"], "wd.col.reason": ["原因", "Reason"], "wd.col.rev": ["撤销", "Reverse"],
    "wd.reverse.all": ["撤销整批", "Reverse the whole batch"], "wd.reverse.lines": ["撤销选中的行", "Reverse the chosen lines"], "wd.reverse.line": ["要撤销的行号（逗号分隔）", "Line numbers to reverse (comma-separated)"],
    "wd.reversed": ["已撤销 {n} 行，共 {points} 积分", "{n} lines reversed, {points} points"], "wd.reverse.refused": ["未能撤销的行", "Lines that could not be reversed"],
    "wd.history": ["本机上传过的批次", "Batches uploaded on this device"],
    "breason.malformed_line": ["这一行无法读取", "This line cannot be read"], "breason.missing_volunteer": ["缺少会员号或志愿者ID", "No member number or volunteer id"],
    "breason.unknown_volunteer": ["找不到这位志愿者", "No such volunteer"], "breason.volunteer_out_of_scope": ["这位志愿者不在您的管辖范围", "The volunteer is outside your units"],
    "breason.invalid_points": ["积分应为正整数", "Points must be a positive whole number"], "breason.points_above_cap": ["积分超过每行上限", "Points above the per-line cap"],
    "breason.invalid_minutes": ["时长应为 0 或正整数", "Minutes must be a whole number, zero or more"], "breason.invalid_line_key": ["序号不合规", "The line key is not allowed"],
    "breason.invalid_memo": ["备注太长或含控制字符", "The memo is too long or has control characters"], "breason.duplicate_line": ["与文件中前面的行重复", "The same line appears earlier in the file"],
    "breason.already_paid": ["这一行之前已经发放过", "This line was paid before"], "breason.points_spent": ["志愿者已花掉这些积分", "The volunteer has spent these points"],
    "breason.not_credited": ["这一行没有发放过", "This line was not credited"], "breason.already_reversed": ["这一行已经撤销过", "This line was already reversed"],
  });
  const el = (...a) => C.el(...a);
  const HEAD = { volunteer: ["volunteer", "志愿者", "志愿者姓名或编号", "volunteerid", "id", "志愿者id", "memberno", "membernumber", "member", "会员号", "会员编号", "志愿者编号", "编号"],
    points: ["points", "积分", "发放积分"], line_key: ["linekey", "key", "行键", "序号", "流水号"], memo: ["memo", "note", "备注", "说明"] };
  const norm = (h) => h.replace(/^\ufeff/, "").trim().toLowerCase().replace(/[ _\-()（）[\]【】:：]/g, "");
  let pane, unitSel, title, cap, out, file = null, rows = null, header = [], timer = null;
  const reason = (code) => { const c = code.replace(/^reversal:/, ""); const s = MB.t("breason." + c); return s === "breason." + c ? c : s; };

  function col(field) { return header.findIndex((h) => HEAD[field].includes(norm(h))); }
  function cellsOf(line) { const r = rows && rows.find((x) => x.line === line); return r ? r.cells : null; }

  let last = null;
  function render(b) {
    last = b;
    out.dataset.batch = b.id; out.dataset.status = b.status;
    const pct = Math.round(b.progress.percent);
    const refused = b.refused;
    const vi = col("volunteer"), pi = col("points"), ki = col("line_key"), mi = col("memo");
    const v = (cells, i) => (cells && i >= 0 ? cells[i] || "" : "");
    const revBoxes = [];
    out.replaceChildren(
      el("div", { class: "section-head" }, el("h3", { text: b.title }), el("span", { class: "badge " + (b.status === "finished" ? "ok" : b.status === "failed" ? "bad" : "wait"), id: "wd-status", text: MB.t("wd.status." + b.status) })),
      el("div", { class: "progress" }, el("div", { id: "wd-bar", style: "width:" + pct + "%" })),
      el("div", { class: "muted", text: b.progress.lines_done + " / " + b.progress.lines_total + " · " + pct + "%" }),
      el("div", { class: "totals4" }, ...[["accepted", b.accepted], ["points", b.points], ["refused", b.refused_count], ["minutes", b.minutes]].map(([k, val]) =>
        el("div", { class: "kpi" }, el("div", { class: "v", id: "wd-" + k, text: C.n(val) }), el("div", { class: "k", i18n: "wd." + k })))),
      refused.length ? el("div", {},
        el("div", { class: "section-head" }, el("h3", { i18n: "wd.refused.title" }),
          el("button", { class: "secondary small", id: "wd-refused-csv", i18n: "wd.refused.csv", onclick: () => downloadRefused(b) })),
        el("div", { class: "table-wrap" }, el("table", { id: "wd-refused-lines" }, el("thead", {}, el("tr", {}, el("th", { i18n: "wd.col.line" }), el("th", { i18n: "wd.col.who" }),
          el("th", { class: "num", i18n: "wd.col.points" }), el("th", { class: "hide-phone", i18n: "wd.col.key" }), el("th", { class: "hide-phone", i18n: "wd.col.memo" }), el("th", { i18n: "wd.col.reason" }))),
          el("tbody", {}, ...refused.map((r) => { const c = cellsOf(r.line); return el("tr", { dataset: { line: r.line, code: r.code } },
            el("td", { text: r.line }), el("td", { text: v(c, vi) }), el("td", { class: "num", text: v(c, pi) }), el("td", { class: "hide-phone", text: v(c, ki) }),
            el("td", { class: "hide-phone", text: v(c, mi) }), el("td", { text: reason(r.code) })); }))))) : "",
      b.status === "finished" && b.accepted > b.reversed_lines ? reversal(b) : "",
      b.reversed_lines ? el("div", { class: "msg info", text: MB.t("wd.reversed", { n: b.reversed_lines, points: b.reversed_points }) }) : "");
    if (b.status === "running") { clearTimeout(timer); timer = setTimeout(() => follow(b.id), 800); }
  }

  function reversal(b) {
    const msg = el("div", { class: "msg hidden", role: "status" });
    const lines = el("input", { id: "wd-rev-lines", "data-i18n-placeholder": "wd.reverse.line", placeholder: MB.t("wd.reverse.line") });
    const go = async (body) => {
      try {
        const r = await C.api("POST", "/v1/batches/" + b.id + "/reversal", { body });
        C.say(msg, "ok", MB.t("wd.reversed", { n: r.reversed.length, points: r.points }) + (r.refused.length ? " · " + MB.t("wd.reverse.refused") + ": " + r.refused.map((x) => x.line + " " + reason(x.code)).join("；") : ""));
      } catch (err) { C.say(msg, "bad", C.problem(err)); }
    };
    return el("div", { class: "card", style: "margin-top:12px" },
      el("div", { class: "row" }, lines, el("button", { class: "secondary", i18n: "wd.reverse.lines", onclick: () => {
        const ns = lines.value.split(/[,，\s]+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 0);
        if (ns.length) go({ lines: ns });
      } }), el("button", { class: "secondary", id: "wd-rev-all", i18n: "wd.reverse.all", onclick: () => go(null) })), msg);
  }

  // refused.csv from the server (each line's own columns as written, read from the batch's file,
  // plus the line, the reason's code and the reason in words); if the server cannot give it, the
  // same join made here from the file this device uploaded.
  async function downloadRefused(b) {
    try {
      const res = await C.raw("GET", b.report_csv, { accept: "text/csv" });
      C.download(await res.blob(), "refused.csv");
    } catch (err) { if (rows && rows.length) joinRefused(b); else out.append(el("div", { class: "msg bad", text: C.problem(err) })); }
  }

  function joinRefused(b) {
    const byLine = new Map(b.refused.map((r) => [r.line, r]));
    const data = [[...header, "拒绝原因 reason"]];
    for (const r of rows || []) if (byLine.has(r.line)) data.push([...r.cells, reason(byLine.get(r.line).code)]);
    C.download(new Blob([C.csv(data)], { type: "text/csv" }), "refused.csv");
  }

  async function follow(id) {
    try { render(await C.api("GET", "/v1/batches/" + id)); } catch (err) { out.replaceChildren(el("div", { class: "msg bad", text: C.problem(err) })); }
  }

  async function upload(f) {
    if (!title.value.trim() || !unitSel.value) { out.replaceChildren(el("div", { class: "msg bad", i18n: "wd.needtitle" })); return; }
    file = f;
    delete out.dataset.status; delete out.dataset.batch;
    const read = await C.fileText(f);
    const parsed = C.parseCsv(read.text);
    header = parsed.length ? parsed[0].cells : []; rows = parsed.slice(1);
    out.replaceChildren(el("div", { class: "msg info", text: MB.t("wd.uploading", { name: f.name }) }));
    const q = new URLSearchParams({ unit_id: unitSel.value, title: title.value.trim(), cap: cap.value || "1000" });
    try {
      const res = await C.raw("POST", "/v1/batches?" + q, { body: f, type: "text/csv" });
      render(await res.json());
    } catch (err) { out.replaceChildren(el("div", { class: "msg bad", id: "wd-error", text: C.problem(err) })); }
  }

  C.register("welfare", {
    init() {
      pane = document.getElementById("pane-welfare");
      unitSel = el("select", { id: "wd-unit" });
      title = el("input", { id: "wd-title", maxlength: 100, "data-i18n-placeholder": "wd.name.ph", placeholder: MB.t("wd.name.ph") });
      cap = el("input", { id: "wd-cap", type: "number", min: 1, step: 1, value: 100 });
      out = el("div", { id: "wd-out" });
      pane.replaceChildren(el("div", { class: "card" }, el("h2", { i18n: "wd.title" }),
        el("div", { class: "row" }, el("div", {}, el("label", { for: "wd-unit", i18n: "wd.unit" }), unitSel), el("div", {}, el("label", { for: "wd-title", i18n: "wd.name" }), title),
          el("div", { style: "flex:0 0 160px" }, el("label", { for: "wd-cap", i18n: "wd.cap" }), cap)),
        el("p", { class: "hint", i18n: "wd.hint" }), C.dropZone("wd-file", "wd.drop", upload), out));
      this.relabel();
    },
    relabel() { if (unitSel) C.unitOptions(unitSel); if (last && out.dataset.batch === last.id) render(last); },
  });
  document.addEventListener("console:units", () => { if (unitSel) C.unitOptions(unitSel); });
})();
