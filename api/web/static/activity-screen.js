// The organizer's activity screen: a QR code that renews itself before it rotates, and live counts.
(function () {
  MB.add({
    "screen.scan.hint": ["用手机打开“我的积分”页面扫码，签到签退各扫一次", "Open “My points” on your phone and scan: once to check in, once to check out"],
    "screen.fullscreen": ["全屏", "Full screen"],
    "screen.signin": ["组织者登录", "Organizer sign-in"],
    "screen.token": ["组织者令牌", "Organizer token"],
    "screen.token.ph": ["粘贴组织者令牌", "Paste the organizer token"],
    "screen.signin.go": ["登录", "Sign in"],
    "screen.pick": ["选择要签到的活动", "Choose the activity to check in to"],
    "screen.pick.none": ["暂无活动", "No activities yet"],
    "screen.pick.open": ["打开签到屏", "Open screen"],
    "screen.open": ["签到进行中", "Check-in open"],
    "screen.cancelled": ["活动已取消", "Activity cancelled"],
    "screen.present": ["在场", "Here now"],
    "screen.checked_in": ["已签到", "Checked in"],
    "screen.checked_out": ["已签退", "Checked out"],
    "screen.rotates": ["二维码 {s} 秒后自动更新", "Code renews in {s} s"],
    "screen.offline": ["网络中断，正在重试…", "Connection lost, retrying…"],
    "screen.rule": ["每小时 {p} 积分", "{p} points per hour"],
    "screen.rule.cap": ["，每人最多 {c} 分", ", at most {c} per person"],
    "screen.rule.approval": ["（积分经组织者审核后发放）", " (points after organizer approval)"],
    "screen.capacity": ["名额 {n} 人", "{n} places"],
  });

  const params = new URLSearchParams(location.search);
  const id = params.get("id");
  const $ = (s) => document.getElementById(s);
  let activity = null;
  let deadline = 0; // local ms when the shown code rotates
  let shown = { present: null, in: null, out: null };

  function show(section) { ["signin", "pick", "stage"].forEach((s) => $(s).classList.toggle("hidden", s !== section)); }

  function token() { return MB.token("organizer"); }

  async function signin() {
    MB.setToken("organizer", $("token").value);
    start();
  }

  function failed(err) {
    if (err.status === 401) { MB.clearToken("organizer"); show("signin"); $("signin-error").textContent = MB.problemText(err); $("signin-error").classList.remove("hidden"); return true; }
    return false;
  }

  async function pick() {
    show("pick");
    try {
      const list = await MB.api("GET", "/v1/activities?limit=30", { token: token() });
      const box = $("pick-list");
      box.innerHTML = "";
      if (!list.items.length) { box.innerHTML = `<p class="muted">${MB.t("screen.pick.none")}</p>`; return; }
      for (const a of list.items) {
        const row = document.createElement("div");
        row.className = "pick-item";
        row.innerHTML = `<div><strong></strong><div class="muted small"></div></div><a class="button"></a>`;
        row.querySelector("strong").textContent = a.title;
        row.querySelector(".muted").textContent = MB.fmtTime(a.starts_at) + " – " + MB.fmtTime(a.ends_at);
        row.querySelector("a").textContent = MB.t("screen.pick.open");
        row.querySelector("a").href = "?id=" + encodeURIComponent(a.id);
        box.appendChild(row);
      }
    } catch (err) { failed(err); }
  }

  // "11月2日 09:00 – 12:00" (the day again only when the end is on another day)
  function span(from, to) {
    const loc = MB.lang === "zh" ? "zh-CN" : "en-GB";
    const a = new Date(from), b = new Date(to);
    const day = (d) => d.toLocaleDateString(loc, { month: "long", day: "numeric", weekday: "short" });
    const hm = (d) => d.toLocaleTimeString(loc, { hour: "2-digit", minute: "2-digit", hour12: false });
    return day(a) + " " + hm(a) + " – " + (day(a) === day(b) ? "" : day(b) + " ") + hm(b);
  }

  function describe() {
    if (!activity) return;
    $("title").textContent = activity.title;
    $("when").textContent = span(activity.starts_at, activity.ends_at);
    let rule = MB.t("screen.rule", { p: activity.points_per_hour });
    if (activity.max_points) rule += MB.t("screen.rule.cap", { c: activity.max_points });
    if (activity.needs_approval) rule += MB.t("screen.rule.approval");
    $("rule").textContent = rule;
    $("capacity").textContent = activity.capacity ? MB.t("screen.capacity", { n: activity.capacity }) : "";
    const pill = $("status-pill");
    pill.dataset.i18n = activity.cancelled_at ? "screen.cancelled" : "screen.open";
    pill.textContent = MB.t(pill.dataset.i18n);
    pill.classList.toggle("closed", !!activity.cancelled_at);
  }

  function setCount(el, key, value) {
    if (shown[key] !== null && shown[key] !== value) { el.parentElement.classList.remove("bump"); void el.offsetWidth; el.parentElement.classList.add("bump"); }
    shown[key] = value;
    el.textContent = value;
  }

  async function refreshCounts() {
    try {
      activity = await MB.api("GET", "/v1/activities/" + encodeURIComponent(id), { token: token() });
      describe();
      const c = activity.counts;
      setCount($("n-present"), "present", c.present);
      setCount($("n-in"), "in", c.checked_in);
      setCount($("n-out"), "out", c.checked_out);
      $("stage").dataset.checkedIn = c.checked_in;
      $("stage").dataset.checkedOut = c.checked_out;
    } catch (err) { if (!failed(err)) $("countdown").textContent = MB.t("screen.offline"); }
  }

  async function refreshCode() {
    const base = "/v1/activities/" + encodeURIComponent(id) + "/qr";
    try {
      const info = await MB.api("GET", base + "?format=json", { token: token() });
      const res = await fetch(base + "?format=svg", { headers: { Authorization: "Bearer " + token() } });
      if (!res.ok) throw Object.assign(new Error(res.statusText), { status: res.status });
      const frame = $("qr");
      frame.innerHTML = await res.text();
      frame.dataset.code = info.code;
      frame.dataset.window = info.window;
      frame.classList.remove("stale");
      // Renew a little before the server rotates, so the screen never shows a stale code.
      deadline = Date.now() + Math.max(1, info.refresh_in - 1) * 1000;
    } catch (err) {
      if (!failed(err)) { $("qr").classList.add("stale"); $("countdown").textContent = MB.t("screen.offline"); deadline = Date.now() + 3000; }
    }
  }

  function tick() {
    const left = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    if (left <= 0) { deadline = Date.now() + 60000; refreshCode(); return; }
    $("countdown").textContent = MB.t("screen.rotates", { s: left });
  }

  let started = false;
  function start() {
    if (!token()) { show("signin"); return; }
    if (!id) { pick(); return; }
    show("stage");
    if (started) return;
    started = true;
    refreshCode();
    refreshCounts();
    setInterval(tick, 250);
    setInterval(refreshCounts, 2000);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signin-go").addEventListener("click", signin);
    $("token").addEventListener("keydown", (e) => { if (e.key === "Enter") signin(); });
    $("fullscreen").addEventListener("click", () => document.documentElement.requestFullscreen && document.documentElement.requestFullscreen());
    document.addEventListener("mb:lang", () => { describe(); if (started) tick(); });
    start();
  });
})();
