// The console's core: sign-in, the section rail, the shared unit tree, and small helpers that every
// section uses. Nothing is built from data with innerHTML: C.el sets text with textContent.
(function () {
  MB.add({
    "console.title": ["道德银行管理台", "Moral Bank console"],
    "console.signout": ["退出", "Sign out"],
    "console.signin.title": ["组织者 / 街道办登录", "Organizer / street office sign-in"],
    "console.signin.hint": ["请扫描工作人员登录二维码，或粘贴街道办发放的令牌。本机会记住。", "Scan your staff sign-in QR code, or paste the token from the street office. This device remembers it."],
    "console.signin.ph": ["组织者令牌", "Organizer token"],
    "console.signin.go": ["登录", "Sign in"],
    "console.who.admin": ["街道办管理员", "Street office admin"],
    "console.who.organizer": ["组织者 · {units}", "Organizer · {units}"],
    "console.notstaff": ["此令牌不是组织者或管理员令牌", "This token is not an organizer's or an admin's"],
    "tab.units": ["网格单元", "Units"], "tab.volunteers": ["志愿者", "Volunteers"], "tab.activities": ["志愿活动", "Activities"],
    "tab.welfare": ["公益日发放", "Welfare day"], "tab.shops": ["联盟商家", "Shops"],
    "kind.street": ["街道", "Street"], "kind.community": ["社区", "Community"], "kind.compound": ["小区", "Compound"],
    "kind.building": ["楼栋", "Building"], "kind.station": ["驿站", "Station"],
    "c.loading": ["正在加载…", "Loading…"], "c.none": ["暂无", "Nothing yet"], "c.saved": ["已保存", "Saved"],
    "c.choose": ["请选择", "Choose…"], "c.error": ["出错了", "Something went wrong"],
    // problem codes the console may meet, in words (app.js has the common ones)
    "problem.invalid_request": ["输入不符合规则", "The input breaks a rule"],
    "problem.invalid_amount": ["积分数量不正确", "That amount is not allowed"],
    "problem.unit_cycle": ["不能把单元移到它自己的下级", "A unit cannot move under itself"],
    "problem.unit_kind_not_allowed": ["这种单元不能放在这里（街道→社区→小区→楼栋）", "That kind of unit cannot go there (street → community → compound → building)"],
    "problem.duplicate": ["已存在（例如会员号已被登记）", "Already exists (e.g. the member number is taken)"],
    "problem.conflict": ["有人同时修改了，请再试一次", "Someone changed this at the same moment; please try again"],
    "problem.idempotency_conflict": ["重复提交的内容不一致", "The same request was sent with different content"],
    "problem.already_reversed": ["已经撤销过了", "Already reversed"],
    "problem.not_reversible": ["不能撤销", "This cannot be reversed"],
    "problem.malformed_json": ["请求格式错误", "The request was malformed"],
    "problem.unsupported_media_type": ["文件类型不支持，请上传 CSV", "Unsupported file type; upload a CSV"],
    "problem.payload_too_large": ["文件太大", "The file is too large"],
    "problem.invalid_batch_file": ["文件无法读取（需要 UTF-8 或 GB18030 编码的 CSV，带表头：会员号/志愿者ID、积分）", "The file cannot be read (a UTF-8 or GB18030 CSV with a header: member number or volunteer id, points)"],
    "problem.invalid_roster_file": ["名册文件无法读取（需要 UTF-8 或 GB18030 编码的 CSV，带表头：姓名、会员号、所属单元）", "The roster cannot be read (a UTF-8 or GB18030 CSV with a header: name, member number, unit)"],
    "problem.roster_too_large": ["名册行数太多", "The roster has too many lines"],
    "problem.batch_too_large": ["发放文件行数太多", "The batch has too many lines"],
    "problem.batch_running": ["批次仍在发放中，请稍候", "The batch is still running; please wait"],
    "problem.batch_file_missing": ["批次文件不在本服务器上", "The batch file is not on this server"],
    "problem.invalid_cursor": ["翻页参数无效，请重新搜索", "That page link is not valid; search again"],
    "problem.activity_closed": ["活动已结束", "The activity is over"],
    "problem.activity_full": ["活动名额已满", "The activity is full"],
    "problem.activity_cancelled": ["活动已取消", "The activity was cancelled"],
    "problem.activity_not_over": ["活动还没结束，结束后才能结算", "The activity is not over yet; settle it afterwards"],
    "problem.not_pending": ["没有待审核的积分", "Nothing is waiting for approval"],
    "problem.merchant_suspended": ["商家已暂停", "The shop is suspended"],
    "problem.offer_unavailable": ["兑换项目不可用", "That offer is not available"],
    "problem.pin_invalid": ["PIN 需为 6 位数字，且不能太简单", "The PIN must be 6 digits and not too simple"],
    "problem.card_not_issued": ["还没有会员卡", "No member card yet"],
    "problem.pin_wrong": ["PIN 不对，请再试一次", "That PIN is wrong; try again"],
    "problem.card_locked": ["PIN 输错太多次，会员卡已锁定，请到社区解锁", "Too many wrong PINs: the card is locked until an organizer unlocks it"],
    "problem.card_revoked": ["这张会员卡已作废（已补办新卡）", "This card no longer works (a new one was issued)"],
    "problem.link_invalid": ["登录链接无效", "This sign-in link is not valid"],
    "problem.link_used": ["登录链接已经用过了，请索取新的", "This sign-in link was already used; ask for a new one"],
    "problem.link_expired": ["登录链接已过期（7 天内有效），请索取新的", "This sign-in link has expired (7 days); ask for a new one"],
    "problem.store_unavailable": ["数据库暂时无法连接，请稍后再试", "The database cannot be reached just now; try again shortly"],
    "problem.rate_limited": ["操作太频繁，请稍后再试", "Too many requests; please wait a little"],
    "problem.http_500": ["服务器出错了，请稍后再试", "The server had a problem; try again shortly"],
  });

  const $ = (id) => document.getElementById(id);
  const C = {
    me: null, units: [], byId: new Map(), sections: {}, current: null,
    token() { return MB.token("organizer") || MB.token("admin"); },
    isAdmin() { return C.me && C.me.role === "admin"; },
    api(method, path, opts) { return MB.api(method, path, Object.assign({ token: C.token() }, opts || {})); },
    // A raw request (files, CSV): same error shape as MB.api.
    async raw(method, path, { body, type, accept } = {}) {
      const h = { Authorization: "Bearer " + C.token(), Accept: accept || "application/json" };
      if (type) h["Content-Type"] = type;
      const res = await fetch(path, { method, headers: h, body });
      if (!res.ok) {
        let p = {}; try { p = await res.json(); } catch (e) { p = { code: "http_" + res.status }; }
        const err = new Error(p.detail || res.statusText); err.status = res.status; err.problem = p; throw err;
      }
      return res;
    },
    // Words for a refusal: the code's sentence; never a stack trace or raw JSON.
    problem(err) {
      const code = err && err.problem && err.problem.code;
      if (code) { const s = MB.t("problem." + code); return s === "problem." + code ? MB.t("c.error") + " (" + code + ")" : s; }
      return MB.t("c.error");
    },
    // el("div", {class: "x", text: "..."}, child, ...): DOM with text only.
    el(tag, attrs, ...children) {
      const e = document.createElement(tag);
      for (const [k, v] of Object.entries(attrs || {})) {
        if (v === undefined || v === null || v === false) continue;
        if (k === "text") e.textContent = v;
        else if (k === "i18n") { e.dataset.i18n = v; e.textContent = MB.t(v); }
        else if (k === "class") e.className = v;
        else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
        else if (k === "dataset") Object.assign(e.dataset, v);
        else e.setAttribute(k, v === true ? "" : v);
      }
      for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
      return e;
    },
    // A message line: kind ok|bad|info.
    say(box, kind, text) { box.className = "msg " + kind; box.textContent = text; box.classList.remove("hidden"); },
    n(v) { return (Number(v) || 0).toLocaleString(MB.lang === "zh" ? "zh-CN" : "en-GB"); },
    kind(k) { return MB.t("kind." + k); },
    unitName(id) { const u = C.byId.get(id); return u ? u.path.join(" / ") : "—"; },
    // A <select> of the visible units (optionally only some kinds), indented by depth.
    unitOptions(select, { kinds, any } = {}) {
      const keep = select.value;
      select.replaceChildren();
      if (any) select.append(C.el("option", { value: "", text: any }));
      for (const u of C.units) {
        if (kinds && !kinds.includes(u.kind)) continue;
        select.append(C.el("option", { value: u.id, text: "　".repeat(u.depth) + u.name + " · " + C.kind(u.kind) }));
      }
      if (keep && [...select.options].some((o) => o.value === keep)) select.value = keep;
    },
    async loadUnits() {
      const r = await C.api("GET", "/v1/units");
      const ids = new Set(r.units.map((u) => u.id));
      const children = new Map();
      for (const u of r.units) { const p = ids.has(u.parent_id) ? u.parent_id : ""; if (!children.has(p)) children.set(p, []); children.get(p).push(u); }
      const out = [];
      const walk = (p, depth) => { for (const u of children.get(p) || []) { u.depth = depth; out.push(u); walk(u.id, depth + 1); } };
      walk("", 0);
      C.units = out; C.byId = new Map(out.map((u) => [u.id, u]));
      document.dispatchEvent(new Event("console:units"));
      return out;
    },
    download(blob, name) {
      const a = C.el("a", { href: URL.createObjectURL(blob), download: name });
      document.body.append(a); a.click(); a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 5000);
    },
    // Text of a file as the server would read it: UTF-8 (BOM or not) or GB18030.
    async fileText(file) {
      const buf = new Uint8Array(await file.arrayBuffer());
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) return { text: new TextDecoder("utf-8").decode(buf.subarray(3)), encoding: "utf-8-sig" };
      try { return { text: new TextDecoder("utf-8", { fatal: true }).decode(buf), encoding: "utf-8" }; } catch (e) { /* not UTF-8 */ }
      return { text: new TextDecoder("gb18030").decode(buf), encoding: "gb18030" };
    },
    // CSV rows with the file line each ends on (as Python's csv reader counts them).
    parseCsv(text) {
      const rows = []; let row = [], cell = "", q = false, line = 1;
      for (let i = 0; i < text.length; i++) {
        const ch = text[i];
        if (q) {
          if (ch === '"') { if (text[i + 1] === '"') { cell += '"'; i++; } else q = false; }
          else { if (ch === "\n") line++; cell += ch; }
        } else if (ch === '"') q = true;
        else if (ch === ",") { row.push(cell); cell = ""; }
        else if (ch === "\r") { /* part of CRLF */ }
        else if (ch === "\n") { row.push(cell); rows.push({ line, cells: row }); row = []; cell = ""; line++; }
        else cell += ch;
      }
      if (cell !== "" || row.length) { row.push(cell); rows.push({ line, cells: row }); }
      return rows;
    },
    csv(rows) {
      const q = (v) => { const s = String(v === null || v === undefined ? "" : v); return /[",\r\n]/.test(s) ? '"' + s.replaceAll('"', '""') + '"' : s; };
      return "\ufeff" + rows.map((r) => r.map(q).join(",")).join("\r\n") + "\r\n";
    },
    register(name, section) { C.sections[name] = section; },
    show(tab) {
      C.current = tab;
      document.querySelectorAll(".rail .tab").forEach((b) => b.setAttribute("aria-selected", b.dataset.tab === tab ? "true" : "false"));
      document.querySelectorAll(".pane").forEach((p) => p.classList.toggle("active", p.id === "pane-" + tab));
      if (location.hash !== "#" + tab) history.replaceState(null, "", "#" + tab);
      const s = C.sections[tab];
      if (s && s.shown) s.shown();
    },
  };
  window.C = C;

  function whoText() {
    if (!C.me) return "";
    if (C.me.role === "admin") return MB.t("console.who.admin");
    const units = C.units.filter((u) => u.depth === 0).map((u) => u.name).join("、");
    const name = C.me.name || "";
    if (name && units && name.includes(units)) return name; // e.g. 丹桂社区组织者: the name says it all
    return MB.t("console.who.organizer", { units: name && name !== "organizer" ? name + " · " + units : units });
  }

  async function start() {
    if (!C.token()) { $("signin").classList.remove("hidden"); $("console").classList.add("hidden"); return; }
    // Who am I: the token's role, name and units (GET /v1/me/principal; never the secret).
    const refuse = (text) => {
      MB.clearToken("organizer"); MB.clearToken("admin");
      $("signin").classList.remove("hidden"); $("console").classList.add("hidden");
      C.say($("signin-error"), "bad", text);
    };
    try {
      C.me = await C.api("GET", "/v1/me/principal");
    } catch (err) {
      if (err.status === 401 || err.status === 403) return refuse(C.problem(err));
      throw err;
    }
    const role = C.me.role;
    if (role !== "admin" && role !== "organizer") { C.me = null; return refuse(MB.t("console.notstaff")); }
    try {
      await C.loadUnits();
    } catch (err) {
      if (err.status === 401 || err.status === 403) return refuse(err.status === 403 ? MB.t("console.notstaff") : C.problem(err));
      throw err;
    }
    document.documentElement.dataset.role = role;
    document.querySelectorAll(".admin-only").forEach((e) => e.classList.toggle("hidden", role !== "admin"));
    $("who").textContent = whoText();
    $("signin").classList.add("hidden");
    $("console").classList.remove("hidden");
    $("signout").hidden = false;
    for (const s of Object.values(C.sections)) if (s.init) s.init();
    const want = location.hash.slice(1);
    C.show(C.sections[want] && (want !== "shops" || role === "admin") ? want : "units");
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signin-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const t = $("token").value.trim();
      if (!t) return;
      MB.setToken("organizer", t); $("token").value = "";
      $("signin-error").classList.add("hidden");
      start();
    });
    $("signout").addEventListener("click", () => { MB.clearToken("organizer"); MB.clearToken("admin"); location.reload(); });
    document.querySelectorAll(".rail .tab").forEach((b) => b.addEventListener("click", () => C.show(b.dataset.tab)));
    document.addEventListener("mb:lang", () => { $("who").textContent = whoText(); for (const s of Object.values(C.sections)) if (s.relabel) s.relabel(); });
    start();
  });
})();
