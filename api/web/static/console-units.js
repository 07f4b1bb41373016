// Units: the tree with each unit's figures for a period; admins create and move units.
(function () {
  MB.add({
    "units.title": ["网格单元与数据", "Units and their figures"],
    "period.week": ["本周", "This week"], "period.month": ["本月", "This month"], "period.year": ["今年", "This year"], "period.all": ["累计", "All time"],
    "fig.issued": ["发放积分", "Issued"], "fig.earned": ["获得积分", "Earned"], "fig.redeemed": ["兑换积分", "Redeemed"],
    "fig.minutes": ["服务时长(分钟)", "Minutes served"], "fig.active": ["活跃志愿者", "Active volunteers"],
    "units.col.unit": ["单元", "Unit"], "units.total": ["合计（{name}）", "Total ({name})"],
    "units.new": ["新建单元", "New unit"], "units.name": ["名称", "Name"], "units.kind": ["类型", "Kind"],
    "units.parent": ["上级单元", "Parent"], "units.noparent": ["（无上级：街道）", "(none: a street)"], "units.create": ["创建", "Create"],
    "units.move": ["移动单元", "Move a unit"], "units.moveunit": ["要移动的单元", "Unit to move"], "units.to": ["移到", "Move under"],
    "units.movego": ["移动", "Move"], "units.created": ["已创建：{name}", "Created: {name}"], "units.moved": ["已移动：{name}", "Moved: {name}"],
    "units.empty": ["还没有单元", "No units yet"],
  });
  const FIGS = ["issued", "earned", "redeemed", "minutes", "active"];
  let period = "month", pane, kpis, body, head;
  const el = (...a) => C.el(...a);

  function render() {
    if (!pane) return;
    head.replaceChildren(el("th", { i18n: "units.col.unit" }), ...FIGS.map((f) => el("th", { class: "num" + (f === "redeemed" ? " hide-phone" : ""), i18n: "fig." + f })));
    body.replaceChildren();
    const fig = (u) => u.figures.find((x) => x.period === period) || {};
    for (const u of C.units) {
      const f = fig(u);
      body.append(el("tr", { class: "depth-" + Math.min(u.depth, 4), dataset: { unit: u.id } },
        el("td", {}, u.name, el("span", { class: "kind k-" + u.kind, text: C.kind(u.kind) })),
        ...FIGS.map((k) => el("td", { class: "num" + (k === "redeemed" ? " hide-phone" : ""), text: C.n(f[k]) }))));
    }
    if (!C.units.length) body.append(el("tr", {}, el("td", { colspan: 6, class: "muted", i18n: "units.empty" })));
    // headline figures: the sum over the top units (they do not overlap)
    const tops = C.units.filter((u) => u.depth === 0);
    kpis.replaceChildren(...FIGS.map((k) => el("div", { class: "kpi", dataset: { fig: k } },
      el("div", { class: "v", text: C.n(tops.reduce((s, u) => s + (fig(u)[k] || 0), 0)) }), el("div", { class: "k", i18n: "fig." + k }))));
    pane.querySelectorAll(".periods button").forEach((b) => b.setAttribute("aria-pressed", b.dataset.period === period ? "true" : "false"));
    const parent = pane.querySelector("#unit-parent"), mover = pane.querySelector("#move-unit"), to = pane.querySelector("#move-to");
    if (parent) { C.unitOptions(parent, { kinds: ["street", "community", "compound"], any: MB.t("units.noparent") }); C.unitOptions(mover); C.unitOptions(to, { kinds: ["street", "community", "compound"] }); }
  }

  function adminForms() {
    const msg = el("div", { class: "msg hidden", role: "status" });
    const name = el("input", { id: "unit-name", maxlength: 100 });
    const kind = el("select", { id: "unit-kind" }, ...["street", "community", "compound", "building", "station"].map((k) => el("option", { value: k, text: C.kind(k) })));
    const parent = el("select", { id: "unit-parent" });
    const create = el("button", { type: "submit", id: "unit-create", i18n: "units.create" });
    const form1 = el("form", { class: "card" }, el("h3", { i18n: "units.new" }),
      el("div", { class: "row" }, el("div", {}, el("label", { i18n: "units.name", for: "unit-name" }), name),
        el("div", {}, el("label", { i18n: "units.kind", for: "unit-kind" }), kind),
        el("div", {}, el("label", { i18n: "units.parent", for: "unit-parent" }), parent), create), msg);
    form1.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const u = await C.api("POST", "/v1/units", { body: { name: name.value, kind: kind.value, parent_id: parent.value || null } });
        C.say(msg, "ok", MB.t("units.created", { name: u.name })); name.value = "";
        setTimeout(() => C.loadUnits(), 400);
      } catch (err) { C.say(msg, "bad", C.problem(err)); }
    });
    const msg2 = el("div", { class: "msg hidden", role: "status" });
    const mover = el("select", { id: "move-unit" }), to = el("select", { id: "move-to" });
    const form2 = el("form", { class: "card" }, el("h3", { i18n: "units.move" }),
      el("div", { class: "row" }, el("div", {}, el("label", { i18n: "units.moveunit" }), mover),
        el("div", {}, el("label", { i18n: "units.to" }), to), el("button", { type: "submit", i18n: "units.movego" })), msg2);
    form2.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const u = await C.api("POST", "/v1/units/" + encodeURIComponent(mover.value) + "/move", { body: { parent_id: to.value } });
        C.say(msg2, "ok", MB.t("units.moved", { name: u.name }));
        setTimeout(() => C.loadUnits(), 400);
      } catch (err) { C.say(msg2, "bad", C.problem(err)); }
    });
    return el("div", { class: "two" }, form1, form2);
  }

  C.register("units", {
    init() {
      pane = document.getElementById("pane-units");
      kpis = el("div", { class: "kpis", id: "unit-kpis" });
      head = el("tr"); body = el("tbody", { id: "unit-rows" });
      const periods = el("div", { class: "periods", role: "group" }, ...["week", "month", "year", "all"].map((p) =>
        el("button", { type: "button", dataset: { period: p }, i18n: "period." + p, onclick: () => { period = p; render(); } })));
      pane.replaceChildren(
        el("div", { class: "card" }, el("div", { class: "section-head" }, el("h2", { i18n: "units.title" }), periods), kpis,
          el("div", { class: "table-wrap" }, el("table", { class: "tree" }, el("thead", {}, head), body))),
        C.isAdmin() ? adminForms() : "");
      render();
    },
    shown() { C.loadUnits().catch(() => {}); },
    relabel() { render(); },
  });
  document.addEventListener("console:units", render);
})();
