// One-time sign-in link for shop staff and organizers: /pages/signin#token=<secret>. The secret
// lives only in the URL fragment (never sent in a URL, never in a server log); it is removed from
// the address bar at once, exchanged once (POST /v1/signin-links/exchange) for the bearer token,
// which is kept on this device like the till and console keep theirs, and the page forwards.
(function () {
  MB.add({
    "signin.working": ["正在登录…", "Signing you in…"],
    "signin.ok": ["登录成功", "You are signed in"],
    "signin.ok.merchant": ["正在进入商家收银台…", "Opening the shop till…"],
    "signin.ok.organizer": ["正在进入管理台…", "Opening the console…"],
    "signin.go": ["进入", "Continue"],
    "signin.failed": ["无法登录", "Cannot sign in"],
    "signin.none": ["请扫描工作人员登录二维码", "Scan your staff sign-in QR code"],
    "signin.none.detail": ["此页面需要通过登录二维码打开。", "This page opens from a sign-in QR code."],
    "signin.step1": ["请向社区或街道工作人员索取新的登录二维码", "Ask your community or street office for a new sign-in code"],
    "signin.step2": ["用手机相机扫描二维码，即可自动登录", "Scan it with your phone's camera to sign in"],
    "signin.step3": ["每个二维码只能使用一次，7 天内有效", "Each code works once, within 7 days"],
    "problem.link_used": ["此登录二维码已经使用过了", "This sign-in code was already used"],
    "problem.link_expired": ["此登录二维码已过期（超过 7 天）", "This sign-in code has expired (older than 7 days)"],
    "problem.link_invalid": ["无法识别的登录二维码", "This sign-in code is not recognised"],
    "problem.rate_limited": ["尝试次数太多，请稍后再试", "Too many tries; please wait a little and try again"],
  });
  const m = location.hash.match(/^#token=([^&]+)/);
  const SECRET = m ? decodeURIComponent(m[1]) : null;
  if (m) history.replaceState(null, "", location.pathname); // out of the address bar and history at once
  const state = { view: null };
  const $ = (s) => document.getElementById(s);

  function show(view) {
    state.view = view;
    const icon = $("icon");
    icon.className = "status-icon" + (view.kind === "ok" ? " ok" : view.kind === "bad" ? " bad" : "");
    icon.innerHTML = view.kind === "ok" ? "✓" : view.kind === "bad" ? "!" : '<div class="spinner"></div>';
    $("headline").textContent = MB.t(view.headline);
    $("detail").textContent = view.detail ? view.detail() : "";
    $("who").textContent = view.who || "";
    $("who").classList.toggle("hidden", !view.who);
    $("go").classList.toggle("hidden", !view.next);
    if (view.next) $("go").href = view.next;
    $("steps").classList.toggle("hidden", view.kind !== "bad");
  }

  async function exchange() {
    if (!SECRET) return show({ kind: "bad", headline: "signin.none", detail: () => MB.t("signin.none.detail") });
    show({ kind: "wait", headline: "signin.working" });
    try {
      const r = await MB.api("POST", "/v1/signin-links/exchange", { body: { token: SECRET } });
      const role = r.token.role;
      MB.setToken(role, r.token.secret);
      show({ kind: "ok", headline: "signin.ok", who: r.token.name, next: r.next, detail: () => MB.t("signin.ok." + role) });
      setTimeout(() => location.assign(r.next), 1500);
    } catch (err) {
      show({ kind: "bad", headline: "signin.failed", detail: () => MB.problemText(err) });
    }
  }

  document.addEventListener("mb:lang", () => { if (state.view) show(state.view); });
  document.addEventListener("DOMContentLoaded", exchange);
})();
