// The volunteer's "pay" section: a one-time pay code that renews itself before it expires,
// and the balance after paying. Mounts into #pay, or appends a card to <main>.
(function () {
  MB.add({
    "pay.title": ["出示兑换码", "Show your pay code"],
    "pay.hint": ["请商家扫描此码。每个码只能用一次，{s} 秒后自动更新。", "Let the shop scan it. Each code works once and renews in {s} s."],
    "pay.balance": ["当前积分", "Balance"],
    "pay.points": ["积分", "points"],
    "pay.paid": ["支付成功：{points} 积分", "Paid: {points} points"],
    "pay.after": ["支付后余额 {balance} 积分", "Balance after paying: {balance} points"],
    "pay.renew": ["换一个码", "New code"],
    "pay.error": ["暂时无法获取兑换码", "Could not get a pay code"],
    "pay.shop": ["向 {name} 支付", "Pay {name}"],
    "pay.shop.hint": ["选择兑换项目，或输入积分", "Pick an offer, or enter points"],
    "pay.scanned": ["商家：{name}", "Shop: {name}"],
    "pay.scanned.sub": ["请在“出示兑换码”下方确认支付", "Confirm the payment in the pay section"],
    "pay.confirm": ["确认支付", "Pay"],
    "pay.cancel": ["取消", "Cancel"],
    "problem.code_used": ["兑换码已使用", "This code was already used"],
    "problem.merchant_suspended": ["该商家已暂停兑换", "This shop is suspended"],
    "problem.offer_unavailable": ["该项目暂不可兑换", "This offer is not available"],
    "problem.limit_reached": ["已达该项目的兑换次数上限", "The limit for this offer is reached"],
  });
  const RENEW_BEFORE = 10; // seconds before expiry
  const state = { timer: null, tick: null, poll: null, balance: null, expiresIn: 60 };

  function mount() {
    if (!document.querySelector('link[href="/static/volunteer-pay.css"]')) {
      const css = document.createElement("link"); css.rel = "stylesheet"; css.href = "/static/volunteer-pay.css"; document.head.appendChild(css);
    }
    let box = document.getElementById("pay");
    if (!box) {
      box = document.createElement("section");
      box.id = "pay";
      box.className = "card";
      (document.querySelector("main") || document.body).appendChild(box);
    }
    box.classList.add("pay-card");
    box.innerHTML = `
      <h2 data-i18n="pay.title">出示兑换码</h2>
      <div class="pay-code" data-pay-code></div>
      <p class="muted pay-hint" data-pay-hint></p>
      <div class="pay-paid hidden" data-pay-paid role="status" aria-live="polite"></div>
      <div class="pay-balance"><span class="muted" data-i18n="pay.balance">当前积分</span>
        <span class="pay-figure" data-pay-balance>—</span> <span class="muted" data-i18n="pay.points">积分</span></div>
      <button class="secondary" data-pay-renew data-i18n="pay.renew">换一个码</button>
      <div class="pay-merchant hidden" data-pay-merchant>
        <h3 data-pay-shop></h3>
        <p class="muted" data-i18n="pay.shop.hint">选择兑换项目，或输入积分</p>
        <div class="pay-offers" data-pay-offers></div>
        <input type="number" min="1" step="1" inputmode="numeric" data-pay-points placeholder="0">
        <div class="pay-actions"><button data-pay-confirm data-i18n="pay.confirm">确认支付</button>
          <button class="secondary" data-pay-cancel data-i18n="pay.cancel">取消</button></div>
        <div class="result hidden" data-pay-result></div>
      </div>`;
    MB.translate(box);
    box.querySelector("[data-pay-renew]").addEventListener("click", renew);
    box.querySelector("[data-pay-confirm]").addEventListener("click", payMerchant);
    box.querySelector("[data-pay-cancel]").addEventListener("click", () => box.querySelector("[data-pay-merchant]").classList.add("hidden"));
    box.querySelector("[data-pay-points]").addEventListener("input", () => { shop.choice = null; drawOffers(); });
    return box;
  }

  let box = null;
  const q = (sel) => box.querySelector(sel);

  function hint() {
    q("[data-pay-hint]").textContent = MB.t("pay.hint", { s: Math.max(0, Math.round(state.expiresIn - RENEW_BEFORE)) });
  }

  async function renew() {
    clearTimeout(state.timer); clearInterval(state.tick);
    try {
      const res = await fetch("/v1/me/pay-code?format=svg", { headers: { Authorization: "Bearer " + MB.token("volunteer") }, cache: "no-store" });
      if (!res.ok) throw new Error(res.statusText);
      const svg = await res.text();
      state.expiresIn = Math.max(RENEW_BEFORE + 5, parseInt(res.headers.get("X-Expires-In"), 10) || 60);
      q("[data-pay-code]").innerHTML = svg;
      const started = Date.now();
      hint();
      state.tick = setInterval(() => { state.expiresIn -= 1; hint(); }, 1000);
      state.timer = setTimeout(renew, (state.expiresIn - RENEW_BEFORE) * 1000 - (Date.now() - started));
    } catch (err) {
      q("[data-pay-hint]").textContent = MB.t("pay.error");
      state.timer = setTimeout(renew, 5000);
    }
  }

  async function poll() {
    try {
      const a = await MB.api("GET", "/v1/me/account", { token: MB.token("volunteer") });
      if (state.balance !== null && a.balance < state.balance) {
        const paid = q("[data-pay-paid]");
        paid.innerHTML = "";
        const big = document.createElement("div"); big.className = "pay-paid-big"; big.textContent = MB.t("pay.paid", { points: state.balance - a.balance });
        const after = document.createElement("div"); after.textContent = MB.t("pay.after", { balance: a.balance });
        paid.append(big, after);
        paid.classList.remove("hidden");
        renew(); // the shown code was spent
      }
      if (state.balance !== null && a.balance !== state.balance && MB.volunteer) MB.volunteer.refresh();
      state.balance = a.balance;
      q("[data-pay-balance]").textContent = a.balance;
    } catch (e) { /* try again */ }
  }

  function start() {
    if (!MB.token("volunteer")) return false;
    box = box || mount();
    renew(); poll();
    clearInterval(state.poll);
    state.poll = setInterval(poll, 2000);
    return true;
  }

  // -- paying a shop whose till code was scanned (POST /v1/scans answered kind "merchant")
  const shop = { merchant: null, choice: null, key: null };
  const newKey = () => (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : "k-" + Date.now() + "-" + Math.random().toString(16).slice(2);

  function drawOffers() {
    const list = q("[data-pay-offers]");
    list.innerHTML = "";
    for (const o of shop.merchant.offers) {
      const b = document.createElement("button");
      b.className = "secondary pay-offer" + (shop.choice === o.id ? " chosen" : "");
      b.textContent = `${o.title} · ${o.points}`;
      b.addEventListener("click", () => { shop.choice = o.id; q("[data-pay-points]").value = ""; drawOffers(); });
      list.appendChild(b);
    }
  }

  function openShop(merchant) {
    box = box || mount();
    shop.merchant = merchant; shop.choice = null; shop.key = newKey();
    q("[data-pay-shop]").textContent = MB.t("pay.shop", { name: merchant.name });
    q("[data-pay-points]").value = "";
    q("[data-pay-result]").classList.add("hidden");
    drawOffers();
    q("[data-pay-merchant]").classList.remove("hidden");
    q("[data-pay-merchant]").scrollIntoView({ behavior: "smooth", block: "center" });
  }

  async function payMerchant() {
    const pts = parseInt(q("[data-pay-points]").value, 10);
    const body = { merchant_code: shop.merchant.code };
    if (shop.choice) body.offer_id = shop.choice; else if (pts > 0) body.points = pts; else return;
    const out = q("[data-pay-result]");
    try {
      const r = await MB.api("POST", "/v1/me/payments", { token: MB.token("volunteer"), body, headers: { "Idempotency-Key": shop.key } });
      out.className = "result ok";
      out.textContent = MB.t("pay.paid", { points: r.points });
      shop.key = newKey();
      poll();
      if (MB.volunteer) MB.volunteer.refresh();
    } catch (err) {
      out.className = "result bad";
      out.textContent = MB.problemText(err);
    }
  }

  MB.scanResults = MB.scanResults || {};
  MB.scanResults.merchant = (r) => {
    openShop(r.merchant);
    return { cls: "ok", text: MB.t("pay.scanned", { name: r.merchant.name }), sub: MB.t("pay.scanned.sub") };
  };

  window.MBPay = { start };
  document.addEventListener("mb:lang", () => { if (box) hint(); });
  document.addEventListener("DOMContentLoaded", () => {
    if (start()) return;
    const wait = setInterval(() => { if (start()) clearInterval(wait); }, 1000); // signed in later
  });
})();
