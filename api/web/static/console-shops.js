// Shops (admins): register a shop (its till code and staff sign-in, shown once), offers, suspend
// and reinstate, the month's statement with CSV download.
(function () {
  MB.add({
    "shop.list": ["联盟商家", "Alliance shops"], "shop.new": ["登记商家", "Register a shop"], "shop.name": ["店名", "Shop name"], "shop.unit": ["所在单元", "Unit"],
    "shop.address": ["地址", "Address"], "shop.contact": ["联系人 / 电话", "Contact"], "shop.register": ["登记", "Register"],
    "shop.registered": ["已登记：{name}。以下内容只显示这一次，请立即打印或保存。", "Registered: {name}. What follows is shown this once: print or keep it now."],
    "shop.token": ["商家令牌", "Shop token"], "shop.till": ["收银台二维码（贴在柜台）", "Till code (print it for the counter)"], "shop.signin": ["店员登录二维码（7 天内有效，一次性）", "Staff sign-in code (once, within 7 days)"],
    "shop.suspended": ["已暂停", "Suspended"], "shop.active": ["营业中", "Active"], "shop.suspend": ["暂停", "Suspend"], "shop.reinstate": ["恢复", "Reinstate"],
    "shop.offers": ["兑换项目", "Offers"], "shop.statement": ["本月对账单", "This month's statement"], "shop.csv": ["下载 CSV", "Download CSV"],
    "shop.signinlink": ["生成店员登录码", "Staff sign-in code"],
    "shop.signin.until": ["有效期至 {at}，只能使用一次", "Valid until {at}, once"],
    "shop.signin.how": ["请店员用店里的手机或平板相机扫描，扫码后自动进入收银台；此码只显示这一次。", "Staff scan it with the shop's phone or tablet camera and land on the till, signed in; this code is shown only now."],
    "offer.title": ["项目名称", "Offer"], "offer.points": ["所需积分", "Points"], "offer.stock": ["库存（可不填）", "Stock (optional)"], "offer.add": ["添加项目", "Add offer"],
    "offer.withdraw": ["下架", "Withdraw"], "offer.withdrawn": ["已下架", "Withdrawn"], "offer.left": ["剩余 {n}", "{n} left"],
    "st.net": ["净收积分", "Net points"], "st.count": ["兑换笔数", "Redemptions"], "st.reversed": ["撤销积分", "Reversed"],
    "st.col.time": ["时间", "Time"], "st.col.what": ["项目", "Offer"], "st.col.who": ["志愿者", "Volunteer"], "st.col.pts": ["积分", "Points"],
    "shop.none": ["还没有联盟商家", "No shops yet"], "shop.pick": ["选择一家商家查看", "Choose a shop"],
  });
  const el = (...a) => C.el(...a);
  let pane, list, detail, unitSel, once;
  const monthRange = () => { const d = new Date(); const p = (n) => String(n).padStart(2, "0");
    const last = new Date(d.getFullYear(), d.getMonth() + 1, 0).getDate();
    return [d.getFullYear() + "-" + p(d.getMonth() + 1) + "-01", d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(last)]; };
  const svgImg = (svg, alt) => el("img", { class: "qr", alt, width: 180, height: 180, src: "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svg) });

  async function load() {
    try {
      const r = await C.api("GET", "/v1/merchants?limit=200");
      list.replaceChildren(...r.items.map((m) => el("div", { class: "list-item", dataset: { id: m.id } },
        el("div", {}, el("div", { class: "title", text: m.name }), el("div", { class: "muted", text: C.unitName(m.unit_id) + (m.address ? " · " + m.address : "") })),
        el("div", { class: "actions" }, el("span", { class: "badge " + (m.suspended ? "bad" : "ok"), i18n: m.suspended ? "shop.suspended" : "shop.active" }),
          el("button", { class: "secondary small", i18n: "shop.offers", onclick: () => open(m) })))));
      if (!r.items.length) list.append(el("p", { class: "muted", i18n: "shop.none" }));
    } catch (err) { list.replaceChildren(el("div", { class: "msg bad", text: C.problem(err) })); }
  }

  async function open(m) {
    const msg = el("div", { class: "msg hidden", role: "status" });
    detail.classList.remove("hidden");
    const [from, to] = monthRange();
    try {
      const [offers, st] = await Promise.all([C.api("GET", "/v1/merchants/" + m.id + "/offers?limit=200"), C.api("GET", "/v1/merchants/" + m.id + "/statement?from=" + from + "&to=" + to)]);
      const t = el("input", { id: "offer-title", maxlength: 100 }), pts = el("input", { id: "offer-points", type: "number", min: 1, step: 1 }), stock = el("input", { id: "offer-stock", type: "number", min: 0, step: 1 });
      const add = el("form", { class: "row" }, el("div", {}, el("label", { i18n: "offer.title", for: "offer-title" }), t), el("div", {}, el("label", { i18n: "offer.points", for: "offer-points" }), pts),
        el("div", {}, el("label", { i18n: "offer.stock", for: "offer-stock" }), stock), el("button", { type: "submit", i18n: "offer.add" }));
      add.addEventListener("submit", async (e) => { e.preventDefault();
        const body = { title: t.value, points: Number(pts.value) }; if (stock.value) body.stock = Number(stock.value);
        try { await C.api("POST", "/v1/merchants/" + m.id + "/offers", { body }); open(m); } catch (err) { C.say(msg, "bad", C.problem(err)); } });
      const suspend = el("button", { class: "secondary small", i18n: m.suspended ? "shop.reinstate" : "shop.suspend", onclick: async () => {
        try { const r = m.suspended ? await C.api("DELETE", "/v1/merchants/" + m.id + "/suspension") : await C.api("POST", "/v1/merchants/" + m.id + "/suspension", { body: { reason: "" } });
          m.suspended = !m.suspended; load(); open(Object.assign(m, r && r.suspended !== undefined ? { suspended: r.suspended } : {})); } catch (err) { C.say(msg, "bad", C.problem(err)); } } });
      const linkBox = el("div", { id: "shop-signin", class: "hidden" });
      const link = el("button", { class: "secondary small", id: "shop-signin-go", i18n: "shop.signinlink", onclick: async () => {
        try {
          const l = await C.api("POST", "/v1/signin-links", { body: { role: "merchant", merchant_id: m.id } });
          // Shown this once: the staff scan it with the shop's phone or tablet and are signed in at the till.
          linkBox.replaceChildren(el("div", { class: "card signin-qr" }, svgImg(l.qr_svg, "sign-in"),
            el("div", {}, el("h3", { i18n: "shop.signin" }), el("p", { class: "muted", text: MB.t("shop.signin.until", { at: MB.fmtTime(l.expires_at) }) }),
              el("p", { class: "hint", i18n: "shop.signin.how" }))));
          linkBox.classList.remove("hidden");
        } catch (err) { C.say(msg, "bad", C.problem(err)); } } });
      const csv = el("button", { class: "secondary small", i18n: "shop.csv", onclick: async () => {
        try { const res = await C.raw("GET", "/v1/merchants/" + m.id + "/statement?format=csv&from=" + from + "&to=" + to, { accept: "text/csv" }); C.download(await res.blob(), "statement-" + from.slice(0, 7) + ".csv"); }
        catch (err) { C.say(msg, "bad", C.problem(err)); } } });
      detail.replaceChildren(
        el("div", { class: "section-head" }, el("h2", { text: m.name }), el("div", { class: "actions" }, suspend, link)), msg, linkBox,
        el("h3", { i18n: "shop.offers" }),
        el("div", {}, ...offers.items.map((o) => el("div", { class: "list-item" }, el("div", {}, el("span", { class: "title", text: o.title }), " ",
          el("span", { class: "pill", text: o.points + " 分" }), o.stock_left !== null ? el("span", { class: "muted", text: " " + MB.t("offer.left", { n: o.stock_left }) }) : ""),
          o.withdrawn ? el("span", { class: "badge off", i18n: "offer.withdrawn" }) : el("button", { class: "secondary small", i18n: "offer.withdraw", onclick: async () => {
            try { await C.api("POST", "/v1/offers/" + o.id + "/withdrawal"); open(m); } catch (err) { C.say(msg, "bad", C.problem(err)); } } })))), add,
        el("div", { class: "section-head", style: "margin-top:16px" }, el("h3", { i18n: "shop.statement" }), csv),
        el("div", { class: "totals4" }, ...[["net", st.totals.net], ["count", st.totals.redemptions], ["reversed", st.totals.reversed]].map(([k, v]) =>
          el("div", { class: "kpi" }, el("div", { class: "v", text: C.n(v) }), el("div", { class: "k", i18n: "st." + k })))),
        el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, el("tr", {}, el("th", { i18n: "st.col.time" }), el("th", { i18n: "st.col.what" }), el("th", { i18n: "st.col.who" }), el("th", { class: "num", i18n: "st.col.pts" }))),
          el("tbody", {}, ...st.lines.map((l) => el("tr", {}, el("td", { text: MB.fmtTime(l.at) }), el("td", { text: l.title }), el("td", { text: l.volunteer }), el("td", { class: "num", text: l.points })))))));
    } catch (err) { detail.replaceChildren(el("div", { class: "msg bad", text: C.problem(err) })); }
  }

  function registerForm() {
    const msg = el("div", { class: "msg hidden", role: "status" });
    const f = { name: el("input", { id: "shop-name", maxlength: 100 }), address: el("input", { id: "shop-address" }), contact: el("input", { id: "shop-contact" }) };
    unitSel = el("select", { id: "shop-unit" });
    once = el("div", { id: "shop-once" });
    const form = el("form", { class: "card" }, el("h2", { i18n: "shop.new" }),
      el("label", { for: "shop-name", i18n: "shop.name" }), f.name, el("label", { for: "shop-unit", i18n: "shop.unit" }), unitSel,
      el("div", { class: "row" }, el("div", {}, el("label", { for: "shop-address", i18n: "shop.address" }), f.address), el("div", {}, el("label", { for: "shop-contact", i18n: "shop.contact" }), f.contact)),
      el("div", { style: "margin-top:12px" }, el("button", { type: "submit", id: "shop-go", i18n: "shop.register" })), msg, once);
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      try {
        const r = await C.api("POST", "/v1/merchants", { body: { name: f.name.value, unit_id: unitSel.value, address: f.address.value, contact: f.contact.value } });
        C.say(msg, "ok", MB.t("shop.registered", { name: r.merchant.name }));
        const till = await C.raw("GET", "/v1/merchants/" + r.merchant.id + "/code?format=svg", { accept: "image/svg+xml" }).then((x) => x.text()).catch(() => null);
        let link = null; try { link = await C.api("POST", "/v1/signin-links", { body: { role: "merchant", merchant_id: r.merchant.id } }); } catch (err) { link = null; }
        // The token is shown right after it is issued, this once; it is not kept anywhere.
        once.replaceChildren(el("label", { i18n: "shop.token" }), el("div", { class: "secret", text: r.token.secret }),
          el("div", { class: "row", style: "margin-top:10px" }, till ? el("div", {}, el("label", { i18n: "shop.till" }), svgImg(till, "till")) : "",
            link ? el("div", {}, el("label", { i18n: "shop.signin" }), svgImg(link.qr_svg, "sign-in")) : ""));
        for (const k of Object.keys(f)) f[k].value = "";
        load();
      } catch (err) { C.say(msg, "bad", C.problem(err)); }
    });
    return form;
  }

  C.register("shops", {
    init() {
      pane = document.getElementById("pane-shops");
      if (!C.isAdmin()) return;
      list = el("div", { id: "shop-list" });
      detail = el("div", { class: "card hidden", id: "shop-detail" });
      pane.replaceChildren(el("div", { class: "two" }, el("div", { class: "card" }, el("h2", { i18n: "shop.list" }), list), registerForm()), detail);
      this.relabel();
    },
    shown() { if (C.isAdmin()) load(); },
    relabel() { if (unitSel) C.unitOptions(unitSel); },
  });
  document.addEventListener("console:units", () => { if (unitSel) C.unitOptions(unitSel); });
})();
