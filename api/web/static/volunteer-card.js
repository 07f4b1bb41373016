// Member card sign-in on the volunteer page: the card's QR opens /pages/volunteer#card=<code>;
// this asks for the 6-digit PIN and exchanges card code + PIN for the volunteer's token
// (POST /v1/card-sessions). Signed in, a "change PIN" section (PUT /v1/me/pin).
(function () {
  MB.add({
    "card.title": ["会员卡登录", "Member card sign-in"],
    "card.badge": ["道德银行会员卡", "Moral Bank member card"],
    "card.hint": ["请输入您的 6 位密码", "Enter your 6-digit PIN"],
    "card.go": ["登录", "Sign in"],
    "card.other": ["使用令牌登录", "Sign in with a token instead"],
    "card.need6": ["请输入 6 位数字密码", "The PIN is 6 digits"],
    "problem.pin_wrong": ["密码错误，还可以再试 {n} 次", "Wrong PIN: {n} tries left"],
    "problem.card_locked": ["密码错误次数过多，此卡已锁定。请联系社区工作人员解锁。", "Too many wrong PINs: this card is locked. Ask your community office to unlock it."],
    "problem.card_revoked": ["此卡已作废（已补办新卡），请使用新卡。", "This card was replaced by a new one. Please use the new card."],
    "problem.card_not_issued": ["尚未办理会员卡", "No member card has been issued yet"],
    "problem.pin_invalid": ["此密码太简单（如 123456、111111），请换一个", "This PIN is too easy to guess (like 123456 or 111111); choose another"],
    "problem.rate_limited": ["尝试次数太多，请稍后再试", "Too many tries; please wait a little and try again"],
    "problem.code_invalid": ["无法识别的会员卡或二维码", "This card or code is not recognised"],
    "pin.title": ["修改密码", "Change PIN"],
    "pin.current": ["当前密码", "Current PIN"],
    "pin.new": ["新密码（6 位数字）", "New PIN (6 digits)"],
    "pin.again": ["再次输入新密码", "New PIN again"],
    "pin.save": ["保存新密码", "Save new PIN"],
    "pin.saved": ["密码已修改，下次用新密码登录", "PIN changed: use the new one next time"],
    "pin.mismatch": ["两次输入的新密码不一致", "The two new PINs differ"],
  });
  const $ = (s) => document.getElementById(s);
  const m = location.hash.match(/^#card=([^&]+)/);
  const CARD = m ? decodeURIComponent(m[1]) : null;
  // A card scanned on this phone signs in as that card's holder: forget whoever was signed in.
  if (CARD) MB.clearToken("volunteer");

  const six = (v) => /^[0-9]{6}$/.test(v);
  function problem(err) {
    const p = err.problem || {};
    if (p.code === "pin_wrong") return MB.t("problem.pin_wrong", { n: p.tries_left });
    return MB.problemText(err);
  }
  function pinInput(id, label) {
    return `<input id="${id}" class="pin-input" type="password" inputmode="numeric" pattern="[0-9]*" maxlength="6"
      autocomplete="off" aria-label="${label}">`;
  }

  function mountSignin() {
    const box = $("signin");
    box.classList.add("pin-card");
    box.querySelectorAll(":scope > *").forEach((el) => el.classList.add("hidden", "token-only"));
    const div = document.createElement("div");
    div.id = "card-signin";
    div.innerHTML = `
      <div class="card-badge"><span class="seal">德</span><span data-i18n="card.badge">道德银行会员卡</span></div>
      <h2 data-i18n="card.title">会员卡登录</h2>
      <p class="muted" data-i18n="card.hint">请输入您的 6 位密码</p>
      ${pinInput("card-pin", "PIN")}
      <button id="card-go" class="wide" data-i18n="card.go">登录</button>
      <p class="result bad hidden" id="card-error" role="alert"></p>
      <details><summary data-i18n="card.other">使用令牌登录</summary></details>`;
    box.prepend(div);
    MB.translate(div);
    const pin = $("card-pin");
    const go = async () => {
      const err = $("card-error");
      err.classList.add("hidden");
      if (!six(pin.value)) { err.textContent = MB.t("card.need6"); err.classList.remove("hidden"); pin.focus(); return; }
      $("card-go").disabled = true;
      try {
        const r = await MB.api("POST", "/v1/card-sessions", { body: { card_code: CARD, pin: pin.value } });
        MB.setToken("volunteer", r.token.secret);
        history.replaceState(null, "", location.pathname);
        div.remove();
        box.classList.remove("pin-card");
        box.querySelectorAll(".token-only").forEach((el) => el.classList.remove("hidden", "token-only"));
        $("signin-error").classList.add("hidden");
        MB.volunteer.refresh();
      } catch (e) {
        err.textContent = problem(e);
        err.classList.remove("hidden");
        pin.value = "";
        pin.focus();
      } finally { $("card-go").disabled = false; }
    };
    $("card-go").addEventListener("click", go);
    pin.addEventListener("input", () => { pin.value = pin.value.replace(/[^0-9]/g, "").slice(0, 6); });
    pin.addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
    div.querySelector("details").addEventListener("toggle", () => {
      box.querySelectorAll(".token-only").forEach((el) => el.classList.remove("hidden"));
      div.querySelector("details").remove();
    });
    pin.focus();
  }

  function mountPinChange() {
    const sec = document.createElement("section");
    sec.id = "pin";
    sec.className = "card pin-change hidden";
    sec.innerHTML = `
      <details id="pin-details"><summary data-i18n="pin.title">修改密码</summary>
        <label for="pin-current" data-i18n="pin.current">当前密码</label>${pinInput("pin-current", "current")}
        <label for="pin-new" data-i18n="pin.new">新密码（6 位数字）</label>${pinInput("pin-new", "new")}
        <label for="pin-again" data-i18n="pin.again">再次输入新密码</label>${pinInput("pin-again", "again")}
        <button id="pin-save" class="wide" data-i18n="pin.save">保存新密码</button>
        <p class="result hidden" id="pin-result" role="status"></p>
      </details>`;
    const history_ = $("history");
    history_.parentNode.insertBefore(sec, history_);
    MB.translate(sec);
    const out = $("pin-result");
    const say = (ok, text) => { out.className = "result " + (ok ? "ok" : "bad"); out.textContent = text; };
    sec.querySelectorAll(".pin-input").forEach((el) => el.addEventListener("input", () => { el.value = el.value.replace(/[^0-9]/g, "").slice(0, 6); }));
    $("pin-save").addEventListener("click", async () => {
      const [cur, neu, again] = ["pin-current", "pin-new", "pin-again"].map((id) => $(id).value);
      if (!six(cur) || !six(neu)) return say(false, MB.t("card.need6"));
      if (neu !== again) return say(false, MB.t("pin.mismatch"));
      try {
        await MB.api("PUT", "/v1/me/pin", { token: MB.token("volunteer"), body: { current_pin: cur, new_pin: neu } });
        ["pin-current", "pin-new", "pin-again"].forEach((id) => { $(id).value = ""; });
        say(true, MB.t("pin.saved"));
      } catch (e) {
        // a wrong current PIN is a 401 here too: the token itself is still good
        if (e.status === 401 && !(e.problem && e.problem.code === "pin_wrong")) return MB.volunteer.failed(e);
        say(false, problem(e));
      }
    });
  }

  // A card opened while this page is already open (same document, new fragment): start over.
  window.addEventListener("hashchange", () => { if (/^#card=/.test(location.hash)) location.reload(); });
  document.addEventListener("DOMContentLoaded", () => {
    mountPinChange();
    if (CARD) mountSignin();
  });
})();
