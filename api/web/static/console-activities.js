// Activities: create (every rule of POST /v1/activities), upcoming / running / past, open the screen,
// watch attendances live, approve or reject pending points, settle, cancel.
(function () {
  MB.add({
    "act.new": ["发起志愿活动", "New activity"], "act.title": ["活动名称", "Title"], "act.desc": ["活动说明", "Description"], "act.unit": ["组织单元", "Unit"],
    "act.starts": ["开始时间", "Starts"], "act.ends": ["结束时间（最多 7 天）", "Ends (at most 7 days)"], "act.pph": ["每小时积分", "Points per hour"],
    "act.capacity": ["名额（可不填）", "Capacity (optional)"], "act.min": ["最少服务分钟", "Minimum minutes"], "act.max": ["每人积分上限（可不填）", "Cap per person (optional)"],
    "act.approval": ["积分需组织者审核", "Points need an organizer's approval"], "act.nocheckout": ["未签退的人", "Someone who never checks out"],
    "nc.window_end": ["按活动结束时间计分", "Credit up to the end"], "nc.none": ["不计分", "No points"], "nc.approval": ["审核后按结束时间计分", "Up to the end, once approved"],
    "act.create": ["创建活动", "Create activity"], "act.created": ["已创建：{title}", "Created: {title}"],
    "act.list": ["活动列表", "Activities"], "act.upcoming": ["即将开始", "Upcoming"], "act.running": ["进行中", "Running"], "act.past": ["已结束", "Past"], "act.cancelled": ["已取消", "Cancelled"],
    "act.none": ["暂无活动", "No activities"], "act.screen": ["打开签到大屏", "Open the screen"], "act.watch": ["查看签到", "Attendance"],
    "act.counts": ["签到 {in} · 在场 {present} · 签退 {out} · 待审 {pending}", "In {in} · present {present} · out {out} · pending {pending}"],
    "act.approve": ["全部通过", "Approve all"], "act.reject": ["全部驳回", "Reject all"], "act.settle": ["结算（为未签退者签退）", "Settle (check out everyone left)"],
    "act.cancel": ["取消活动", "Cancel activity"], "act.cancel.reason": ["取消原因", "Reason"], "act.done": ["已完成", "Done"],
    "att.col.who": ["志愿者", "Volunteer"], "att.col.status": ["状态", "Status"], "att.col.min": ["分钟", "Minutes"], "att.col.pts": ["积分", "Points"], "att.col.in": ["签到时间", "Checked in"],
    "att.in": ["在场", "Present"], "att.credited": ["已计分", "Credited"], "att.done": ["已签退", "Checked out"], "att.pending": ["待审核", "Pending"], "att.rejected": ["已驳回", "Rejected"],
    "att.live": ["实时更新中", "Live"],
  });
  const el = (...a) => C.el(...a);
  let pane, list, watch, unitSel, timer = null, watching = null;
  const pad = (n) => String(n).padStart(2, "0");
  const localInput = (d) => d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" + pad(d.getHours()) + ":" + pad(d.getMinutes());
  function rfc3339(v) { // a datetime-local value, with this device's offset
    const d = new Date(v); const off = -d.getTimezoneOffset(); const s = off >= 0 ? "+" : "-";
    return v + ":00" + s + pad(Math.floor(Math.abs(off) / 60)) + ":" + pad(Math.abs(off) % 60);
  }
  function phase(a) {
    if (a.cancelled_at) return "cancelled";
    const now = Date.now();
    if (now < Date.parse(a.starts_at)) return "upcoming";
    return now < Date.parse(a.ends_at) ? "running" : "past";
  }

  async function load() {
    try {
      const r = await C.api("GET", "/v1/activities?limit=100");
      const groups = { running: [], upcoming: [], past: [], cancelled: [] };
      for (const a of r.items) groups[phase(a)].push(a);
      list.replaceChildren();
      for (const g of ["running", "upcoming", "past", "cancelled"]) {
        if (!groups[g].length) continue;
        list.append(el("h3", { i18n: "act." + g, style: "margin-top:12px" }));
        for (const a of groups[g]) list.append(el("div", { class: "list-item", dataset: { id: a.id, phase: g } },
          el("div", {}, el("div", { class: "title", text: a.title }),
            el("div", { class: "muted", text: MB.fmtTime(a.starts_at) + " – " + MB.fmtTime(a.ends_at) + " · " + C.unitName(a.unit_id) + " · " + a.points_per_hour + "/h" }),
            el("div", { class: "muted", text: MB.t("act.counts", { in: a.counts.checked_in, present: a.counts.present, out: a.counts.checked_out, pending: a.counts.pending }) })),
          el("div", { class: "actions" },
            g !== "cancelled" ? el("a", { class: "button small", target: "_blank", href: "/pages/activity-screen?id=" + encodeURIComponent(a.id), i18n: "act.screen" }) : "",
            el("button", { class: "secondary small watch", i18n: "act.watch", onclick: () => open(a) }))));
      }
      if (!r.items.length) list.append(el("p", { class: "muted", i18n: "act.none" }));
    } catch (err) { list.replaceChildren(el("div", { class: "msg bad", text: C.problem(err) })); }
  }

  async function refresh() {
    if (!watching) return;
    const id = watching.id;
    try {
      const [a, r] = await Promise.all([C.api("GET", "/v1/activities/" + id), C.api("GET", "/v1/activities/" + id + "/attendances")]);
      if (!watching || watching.id !== id) return;
      const c = a.counts;
      watch.querySelector(".counts").replaceChildren(...[["checked_in", "act.counts"]].map(() => el("span", { text: MB.t("act.counts", { in: c.checked_in, present: c.present, out: c.checked_out, pending: c.pending }) })));
      watch.dataset.checkedIn = c.checked_in; watch.dataset.pending = c.pending;
      const names = C.names || (C.names = new Map());
      for (const t of r.items) if (!names.has(t.volunteer_id)) {
        names.set(t.volunteer_id, "…");
        C.api("GET", "/v1/volunteers/" + t.volunteer_id).then((v) => { names.set(v.id, v.name); watch.querySelectorAll('tr[data-volunteer="' + v.id + '"] .who').forEach((td) => { td.textContent = v.name; }); }).catch(() => {});
      }
      watch.querySelector("tbody").replaceChildren(...r.items.map((t) => el("tr", { dataset: { volunteer: t.volunteer_id, status: t.status } },
        el("td", { class: "who", text: names.get(t.volunteer_id) }),
        el("td", {}, el("span", { class: "badge " + ({ in: "wait", credited: "ok", done: "ok", pending: "wait", rejected: "bad" }[t.status] || "off"), text: MB.t("att." + t.status) })),
        el("td", { class: "num", text: t.minutes ?? "" }), el("td", { class: "num", text: t.points ?? "" }), el("td", { class: "hide-phone", text: t.checked_in_at ? MB.fmtTime(t.checked_in_at) : "" }))));
    } catch (err) { C.say(watch.querySelector(".msg"), "bad", C.problem(err)); }
  }

  function open(a) {
    watching = a;
    const msg = el("div", { class: "msg hidden", role: "status" });
    const act = (label, path, body, cls) => el("button", { class: (cls || "secondary") + " small", i18n: label, onclick: async () => {
      try { await C.api("POST", "/v1/activities/" + a.id + path, { body: typeof body === "function" ? body() : body }); C.say(msg, "ok", MB.t("act.done")); refresh(); load(); }
      catch (err) { C.say(msg, "bad", C.problem(err)); } } });
    const reason = el("input", { id: "act-cancel-reason", "data-i18n-placeholder": "act.cancel.reason", placeholder: MB.t("act.cancel.reason") });
    watch.replaceChildren(
      el("div", { class: "section-head" }, el("h2", { text: a.title }), el("span", { class: "badge ok", i18n: "att.live" })),
      el("p", { class: "counts" }),
      el("div", { class: "actions" }, act("act.approve", "/approvals", { decision: "approve" }), act("act.reject", "/approvals", { decision: "reject" }),
        act("act.settle", "/settlement", {}), el("span", { style: "flex:1" }), reason, act("act.cancel", "/cancellation", () => ({ reason: reason.value }), "")),
      msg,
      el("div", { class: "table-wrap" }, el("table", { id: "att-table" }, el("thead", {}, el("tr", {}, el("th", { i18n: "att.col.who" }), el("th", { i18n: "att.col.status" }),
        el("th", { class: "num", i18n: "att.col.min" }), el("th", { class: "num", i18n: "att.col.pts" }), el("th", { class: "hide-phone", i18n: "att.col.in" }))), el("tbody"))));
    watch.classList.remove("hidden");
    watch.dataset.activity = a.id;
    refresh();
    if (timer) clearInterval(timer);
    timer = setInterval(refresh, 2000);
    watch.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function createForm() {
    const msg = el("div", { class: "msg hidden", role: "status" });
    const now = new Date(); now.setMinutes(0, 0, 0); now.setHours(now.getHours() + 1);
    const f = {
      title: el("input", { id: "act-title", maxlength: 100 }), description: el("textarea", { id: "act-desc", rows: 2, maxlength: 2000 }),
      starts_at: el("input", { id: "act-starts", type: "datetime-local", value: localInput(now) }),
      ends_at: el("input", { id: "act-ends", type: "datetime-local", value: localInput(new Date(now.getTime() + 2 * 3600e3)) }),
      points_per_hour: el("input", { id: "act-pph", type: "number", min: 0, step: 1, value: 10 }),
      capacity: el("input", { id: "act-capacity", type: "number", min: 1, step: 1 }), min_minutes: el("input", { id: "act-min", type: "number", min: 0, step: 1, value: 0 }),
      max_points: el("input", { id: "act-max", type: "number", min: 1, step: 1 }), needs_approval: el("input", { id: "act-approval", type: "checkbox" }),
      no_checkout: el("select", { id: "act-nocheckout" }, ...["window_end", "none", "approval"].map((k) => el("option", { value: k, i18n: "nc." + k }))),
    };
    unitSel = el("select", { id: "act-unit" });
    const field = (key, label, input) => el("div", {}, el("label", { i18n: label, for: input.id }), input);
    const form = el("form", { class: "card", id: "act-form" }, el("h2", { i18n: "act.new" }),
      el("div", { class: "row" }, field("title", "act.title", f.title), field("unit", "act.unit", unitSel)),
      field("description", "act.desc", f.description),
      el("div", { class: "row" }, field("s", "act.starts", f.starts_at), field("e", "act.ends", f.ends_at)),
      el("div", { class: "row" }, field("p", "act.pph", f.points_per_hour), field("c", "act.capacity", f.capacity), field("m", "act.min", f.min_minutes), field("x", "act.max", f.max_points)),
      el("div", { class: "row" }, el("label", { class: "check" }, f.needs_approval, el("span", { i18n: "act.approval" })), field("n", "act.nocheckout", f.no_checkout)),
      el("div", { style: "margin-top:12px" }, el("button", { type: "submit", id: "act-create", i18n: "act.create" })), msg);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = { title: f.title.value, description: f.description.value, unit_id: unitSel.value,
        starts_at: rfc3339(f.starts_at.value), ends_at: rfc3339(f.ends_at.value), points_per_hour: Number(f.points_per_hour.value),
        min_minutes: Number(f.min_minutes.value || 0), needs_approval: f.needs_approval.checked, no_checkout: f.no_checkout.value };
      if (f.capacity.value) body.capacity = Number(f.capacity.value);
      if (f.max_points.value) body.max_points = Number(f.max_points.value);
      try { const a = await C.api("POST", "/v1/activities", { body }); C.say(msg, "ok", MB.t("act.created", { title: a.title })); form.dataset.created = a.id; f.title.value = "";
        // the list is a read model: it follows the write a moment later
        for (let i = 0; i < 20; i++) { await load(); if (list.querySelector('[data-id="' + a.id + '"]')) break; await new Promise((r) => setTimeout(r, 400)); } }
      catch (err) { C.say(msg, "bad", C.problem(err)); }
    });
    return form;
  }

  C.register("activities", {
    init() {
      pane = document.getElementById("pane-activities");
      list = el("div", { id: "act-list" });
      watch = el("div", { class: "card hidden", id: "act-watch" });
      pane.replaceChildren(el("div", { class: "two" }, createForm(), el("div", { class: "card" }, el("h2", { i18n: "act.list" }), list)), watch);
      this.relabel();
    },
    shown() { load(); },
    relabel() { if (unitSel) { C.unitOptions(unitSel); load(); if (watching) refresh(); } },
  });
  document.addEventListener("console:units", () => { if (unitSel) C.unitOptions(unitSel); });
})();
