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
      <button class="secondary" data-pay-renew data-i18n="pay.renew">换一个码</button>`;
    MB.translate(box);
    box.querySelector("[data-pay-renew]").addEventListener("click", renew);
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

  window.MBPay = { start };
  document.addEventListener("mb:lang", () => { if (box) hint(); });
  document.addEventListener("DOMContentLoaded", () => { start(); });
})();
