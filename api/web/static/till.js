// The merchant till: log in once with the merchant token, scan or type a pay code, pick an
// offer or points, confirm, see the result big; undo the last one; today's statement.
(function () {
  MB.add({
    "till.title": ["联盟商家收银台", "Alliance shop till"],
    "till.logout": ["退出", "Sign out"],
    "till.login.title": ["商家登录", "Shop sign-in"],
    "till.login.hint": ["请输入街道办发放的商家令牌。只需登录一次，本机会记住。", "Enter the shop token from the street office. Once is enough: this device remembers it."],
    "till.login.placeholder": ["商家令牌 mb_m_…", "Shop token mb_m_…"],
    "till.login.go": ["登录", "Sign in"],
    "till.login.notmerchant": ["这不是商家令牌", "This is not a shop token"],
    "till.pay.title": ["收积分", "Take points"],
    "till.step.code": ["扫描志愿者的兑换码", "Scan the volunteer's pay code"],
    "till.step.what": ["选择兑换项目或输入积分", "Pick an offer or enter points"],
    "till.scan.start": ["扫码", "Scan"],
    "till.scan.stop": ["关闭摄像头", "Close camera"],
    "till.scan.nocamera": ["无法打开摄像头，请手动输入兑换码", "No camera: please type the code"],
    "till.code.placeholder": ["或粘贴 / 输入兑换码、会员卡码", "or paste / type the pay code or card code"],
    "till.card.ok": ["✓ 已读取会员卡，请志愿者输入 6 位密码", "✓ Member card read: the volunteer types the 6-digit PIN"],
    "till.pin.placeholder": ["志愿者输入 6 位密码", "Volunteer types the PIN"],
    "till.ok.card": ["会员卡支付成功", "Paid by card"],
    "problem.pin_wrong": ["密码错误，还可以再试 {n} 次", "Wrong PIN: {n} tries left"],
    "problem.card_locked": ["密码错误次数过多，此卡已锁定，请到社区解锁", "Too many wrong PINs: the card is locked; the community office can unlock it"],
    "problem.card_revoked": ["这张卡已补办作废，请使用新卡", "This card was replaced: use the new card"],
    "problem.card_limit_reached": ["已达今日会员卡支付上限（今日还可用 {left} 分）", "Today's card payment cap is reached ({left} points left today)"],
    "problem.invalid_idempotency_key": ["请求有误，请重试", "Bad request, try again"],
    "till.code.ok": ["✓ 已读取兑换码", "✓ Pay code read"],
    "till.points": ["积分", "Points"],
    "till.confirm": ["确认兑换", "Confirm"],
    "till.ok": ["兑换成功", "Done"],
    "till.ok.detail": ["{who} · {what} · 扣除 {points} 积分", "{who} · {what} · {points} points taken"],
    "till.reversed.ok": ["已撤销", "Reversed"],
    "till.reversed.detail": ["{points} 积分已退回 {who}", "{points} points returned to {who}"],
    "till.failed": ["未能兑换", "Not done"],
    "till.reason.placeholder": ["撤销原因（如：顾客退货）", "Reason (e.g. returned goods)"],
    "till.reason.default": ["收银撤销", "Undone at the till"],
    "till.reverse": ["撤销上一笔", "Undo last"],
    "till.today": ["今日对账", "Today's statement"],
    "till.csv": ["下载 CSV", "Download CSV"],
    "till.net": ["净收积分", "Net points"],
    "till.count": ["兑换笔数", "Redemptions"],
    "till.reversed": ["撤销积分", "Reversed"],
    "till.col.time": ["时间", "Time"],
    "till.col.what": ["项目", "Item"],
    "till.col.who": ["志愿者", "Volunteer"],
    "till.col.points": ["积分", "Points"],
    "till.none": ["今天还没有兑换。", "No redemptions yet today."],
    "till.points.only": ["积分兑换", "Points"],
    "till.left": ["剩 {n} 份", "{n} left"],
    "till.soldout": ["已兑完", "Sold out"],
    "problem.code_used": ["兑换码已使用", "This code was already used"],
    "problem.code_expired": ["兑换码已过期，请让志愿者刷新", "Code expired: ask the volunteer to refresh"],
    "problem.merchant_suspended": ["本店已暂停兑换，请联系街道办", "This shop is suspended: contact the street office"],
    "problem.offer_unavailable": ["该项目暂不可兑换", "This offer is not available"],
    "problem.limit_reached": ["已达该项目的兑换次数上限", "The limit for this offer is reached"],
    "problem.already_reversed": ["这笔已经撤销过了", "Already reversed"],
    "problem.idempotency_conflict": ["请求冲突，请重试", "Conflicting retry, try again"],
  });

  const $ = (id) => document.getElementById(id);
  const state = { merchant: null, offers: [], choice: null, last: null, stream: null, busy: false };
  const token = () => MB.token("merchant");
  const newKey = () => (window.crypto && crypto.randomUUID) ? crypto.randomUUID() : "k-" + Date.now() + "-" + Math.random().toString(16).slice(2);

  function show(el, yes) { el.classList.toggle("hidden", !yes); }

  async function login(t) {
    MB.setToken("merchant", t);
    try {
      state.merchant = await MB.api("GET", "/v1/merchants/me", { token: token() });
    } catch (err) {
      MB.clearToken("merchant");
      const box = $("login-error");
      box.textContent = err.status === 403 ? MB.t("till.login.notmerchant") : MB.problemText(err);
      show(box, true);
      return;
    }
    show($("login"), false); show($("till"), true); $("logout").hidden = false;
    $("shop-name").textContent = state.merchant.name;
    await Promise.all([loadOffers(), loadStatement()]);
  }

  async function loadOffers() {
    const page = await MB.api("GET", `/v1/merchants/${state.merchant.id}/offers?limit=200`);
    state.offers = page.items.filter((o) => !o.withdrawn);
    renderOffers();
  }

  function renderOffers() {
    const box = $("offers");
    box.innerHTML = "";
    for (const o of state.offers) {
      const b = document.createElement("button");
      b.className = "offer" + (state.choice && state.choice.offer_id === o.id ? " chosen" : "");
      b.dataset.offer = o.id;
      b.disabled = !o.available;
      const left = o.stock_left === null ? "" : (o.stock_left > 0 ? MB.t("till.left", { n: o.stock_left }) : MB.t("till.soldout"));
      b.innerHTML = `<span class="t"></span><span class="pts">${o.points}</span><span class="left">${left}</span>`;
      b.querySelector(".t").textContent = o.title;
      b.addEventListener("click", () => { state.choice = { offer_id: o.id }; $("points").value = ""; renderOffers(); ready(); });
      box.appendChild(b);
    }
  }

  // A member card's QR holds its sign-in link (…/pages/volunteer#card=MB1.c.…), or the bare code.
  function cardCode(text) {
    const i = text.indexOf("#card=");
    const code = i >= 0 ? decodeURIComponent(text.slice(i + 6).split("&")[0]) : text;
    return code.startsWith("MB1.c.") ? code : null;
  }

  function ready() {
    const code = $("code").value.trim();
    const card = cardCode(code);
    show($("code-ok"), code.startsWith("MB1.p."));
    show($("card-pin"), !!card);
    const pts = parseInt($("points").value, 10);
    if (pts > 0) state.choice = { points: pts };
    $("confirm").disabled = state.busy || !code || !state.choice || (!!card && !/^[0-9]{6}$/.test($("pin").value));
  }

  function refusal(err) {
    const p = err.problem || {};
    if (p.code === "pin_wrong") return MB.t("problem.pin_wrong", { n: p.tries_left });
    if (p.code === "card_limit_reached") return MB.t("problem.card_limit_reached", { left: p.left });
    return MB.problemText(err);
  }

  function outcome(ok, headline, detail) {
    const box = $("outcome");
    box.className = "outcome " + (ok ? "ok" : "bad");
    $("outcome-icon").textContent = ok ? "✓" : "✕";
    $("outcome-headline").textContent = headline;
    $("outcome-detail").textContent = detail || "";
    show(box, true);
  }

  async function confirm() {
    const code = $("code").value.trim();
    const card = cardCode(code);
    // A card payment: the PIN goes in the body (never in the address or a log) and leaves the field at once.
    const path = card ? "/v1/card-payments" : "/v1/redemptions";
    const body = Object.assign(card ? { card_code: card, pin: $("pin").value } : { pay_code: code }, state.choice);
    $("pin").value = "";
    state.busy = true; ready();
    try {
      const r = await MB.api("POST", path, { token: token(), body, headers: { "Idempotency-Key": newKey() } });
      state.last = r;
      outcome(true, `${MB.t(card ? "till.ok.card" : "till.ok")}  −${r.points}`, MB.t("till.ok.detail", { who: r.volunteer_name, what: r.title || MB.t("till.points.only"), points: r.points }));
      $("code").value = ""; $("points").value = ""; state.choice = null;
      $("reverse").disabled = false;
    } catch (err) {
      outcome(false, MB.t("till.failed"), refusal(err));
      if (card && err.problem && ["card_locked", "card_revoked"].includes(err.problem.code)) $("code").value = "";
    } finally {
      state.busy = false; ready(); renderOffers();
      setTimeout(refresh, 400);
    }
  }

  async function reverse() {
    if (!state.last) return;
    const reason = $("reason").value.trim() || MB.t("till.reason.default");
    try {
      const r = await MB.api("POST", `/v1/redemptions/${state.last.id}/reversal`, { token: token(), body: { reason }, headers: { "Idempotency-Key": newKey() } });
      outcome(true, MB.t("till.reversed.ok"), MB.t("till.reversed.detail", { points: r.points, who: r.volunteer_name }));
      state.last = null; $("reverse").disabled = true; $("reason").value = "";
    } catch (err) {
      outcome(false, MB.t("till.failed"), MB.problemText(err));
    }
    setTimeout(refresh, 400);
  }

  async function loadStatement() {
    // No dates: the server's today, in its configured zone.
    const s = await MB.api("GET", `/v1/merchants/${state.merchant.id}/statement`, { token: token() });
    state.day = s.from;
    $("t-net").textContent = s.totals.net;
    $("t-count").textContent = s.totals.redemptions - s.totals.reversals;
    $("t-reversed").textContent = s.totals.reversed;
    const reversed = new Set(s.lines.filter((l) => l.reverses).map((l) => l.reverses));
    const tbody = $("lines");
    tbody.innerHTML = "";
    for (const l of s.lines.slice().reverse()) {
      const tr = document.createElement("tr");
      if (reversed.has(l.transaction_id)) tr.className = "reversed";
      const time = new Date(l.at).toLocaleTimeString(MB.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false, hour: "2-digit", minute: "2-digit" });
      const what = l.points < 0 ? `${MB.t("till.reversed.ok")} · ${l.memo}` : (l.title || MB.t("till.points.only"));
      for (const [text, cls] of [[time, ""], [what, ""], [l.volunteer, ""], [(l.points > 0 ? "+" : "") + l.points, "num" + (l.points < 0 ? " neg" : "")]]) {
        const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
    show($("no-lines"), s.lines.length === 0);
  }

  async function refresh() { try { await Promise.all([loadOffers(), loadStatement()]); } catch (e) { /* next time */ } }

  async function downloadCsv() {
    const d = state.day || "today";
    const res = await fetch(`/v1/merchants/${state.merchant.id}/statement?format=csv`, { headers: { Authorization: "Bearer " + token() } });
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement("a"); a.href = url; a.download = `statement-${d}.csv`; a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }

  // -- the camera: the browser's BarcodeDetector where present, the bundled jsQR elsewhere
  async function decoder() {
    if ("BarcodeDetector" in window) {
      try {
        const det = new BarcodeDetector({ formats: ["qr_code"] });
        return async (video) => { const found = await det.detect(video); return found.length ? found[0].rawValue : null; };
      } catch (e) { /* fall through to jsQR */ }
    }
    if (!window.jsQR) {
      await new Promise((ok, fail) => { const s = document.createElement("script"); s.src = "/static/jsqr-1.4.0.js"; s.onload = ok; s.onerror = fail; document.head.appendChild(s); });
    }
    const canvas = document.createElement("canvas");
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    return async (video) => {
      if (!video.videoWidth) return null;
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      ctx.drawImage(video, 0, 0);
      const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
      const found = window.jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" });
      return found ? found.data : null;
    };
  }

  async function startScan() {
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (err) {
      outcome(false, MB.t("till.failed"), MB.t("till.scan.nocamera"));
      return;
    }
    const video = $("video");
    video.srcObject = state.stream;
    await video.play();
    show($("scanner"), true);
    const detect = await decoder();
    const tick = async () => {
      if (!state.stream) return;
      try {
        const text = await detect(video);
        if (text && (text.startsWith("MB1.p.") || cardCode(text))) { $("code").value = text; stopScan(); ready(); return; }
      } catch (e) { /* a frame that could not be read */ }
      setTimeout(tick, 150);
    };
    tick();
  }

  function stopScan() {
    if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
    state.stream = null;
    show($("scanner"), false);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("login-form").addEventListener("submit", (e) => { e.preventDefault(); const t = $("token").value.trim(); if (t) login(t); });
    $("logout").addEventListener("click", () => { MB.clearToken("merchant"); location.reload(); });
    $("code").addEventListener("input", ready);
    $("pin").addEventListener("input", ready);
    $("points").addEventListener("input", () => { state.choice = null; renderOffers(); ready(); });
    $("confirm").addEventListener("click", confirm);
    $("reverse").addEventListener("click", reverse);
    $("scan-start").addEventListener("click", startScan);
    $("scan-stop").addEventListener("click", stopScan);
    $("csv").addEventListener("click", downloadCsv);
    document.addEventListener("mb:lang", () => { if (state.merchant) refresh(); });
    if (token()) login(token());
  });
})();
