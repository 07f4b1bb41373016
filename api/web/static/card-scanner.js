// The organizer's card scanner (/pages/scanner?id=<activity>): scans volunteers' member cards (or the
// card code on their phone) to check them in and out. Every scan is queued on this device first,
// with its own time and a random nonce, and sent to POST /v1/activities/{id}/offline-scans when
// there is a network; with none, scanning goes on and the queue waits ("N waiting to sync"). The
// server applies each scan at its own time and answers each with its own outcome, shown here.
// The same nonce sent twice lands once, so a queue may be sent again safely.
(function () {
  MB.add({
    "cs.online": ["在线", "Online"],
    "cs.offline": ["离线：扫描照常进行", "Offline: keep scanning"],
    "cs.signin": ["组织者登录", "Organizer sign-in"],
    "cs.token": ["组织者令牌", "Organizer token"],
    "cs.token.ph": ["粘贴组织者令牌", "Paste the organizer token"],
    "cs.signin.go": ["登录", "Sign in"],
    "cs.hint": ["扫描志愿者的会员卡（或手机上的会员卡码）为其签到、签退。没有网络时照常扫描，恢复网络后自动同步。",
      "Scan volunteers' member cards (or the card code on their phone) to check them in and out. With no network keep scanning: the scans are sent when it comes back."],
    "cs.pending": ["条待同步", "waiting to sync"],
    "cs.sync": ["立即同步", "Sync now"],
    "cs.syncing": ["正在同步…", "Syncing…"],
    "cs.synced": ["已同步 {time}", "Synced {time}"],
    "cs.waitnet": ["等待网络恢复后自动同步", "Will sync when the network is back"],
    "cs.camera": ["打开摄像头扫卡", "Scan cards with the camera"],
    "cs.camera.stop": ["关闭摄像头", "Close the camera"],
    "cs.camera.none": ["无法打开摄像头，请手动输入", "No camera: type the code instead"],
    "cs.code.ph": ["或粘贴 / 输入会员卡码", "or paste / type the card code"],
    "cs.add": ["记录", "Record"],
    "cs.notcard": ["这不是会员卡的二维码", "This is not a member card's code"],
    "cs.queued": ["已记录，待同步", "Recorded, waiting to sync"],
    "cs.results": ["扫描记录", "Scans"],
    "cs.card": ["会员卡 …{tail}", "Card …{tail}"],
    "cs.offline.tag": ["离线扫描", "scanned offline"],
    "out.waiting": ["待同步", "Waiting to sync"],
    "out.checked_in": ["签到成功", "Checked in"],
    "out.checked_out": ["签退成功 · {points} 积分", "Checked out · {points} points"],
    "out.checked_out.pending": ["签退成功 · {points} 积分待审核", "Checked out · {points} points to approve"],
    "out.redecided": ["按扫描时间重新计算 · {points} 积分", "Recounted in time order · {points} points"],
    "out.noted": ["已记录（重复扫描）", "Recorded (repeat scan)"],
    "out.duplicate": ["已同步过", "Already synced"],
    "out.refused": ["未通过：{why}", "Refused: {why}"],
    "problem.card_revoked": ["这张卡已补办作废", "This card was replaced"],
    "problem.card_locked": ["此卡已锁定", "This card is locked"],
    "problem.activity_full": ["名额已满", "The activity is full"],
    "problem.activity_closed": ["活动已取消", "The activity was cancelled"],
    "problem.scan_too_late": ["扫描时间晚于活动结束后的允许时间", "Scanned after the activity closed"],
    "problem.scan_too_early": ["扫描时间早于活动开放签到", "Scanned before the activity opened"],
    "problem.scan_in_future": ["扫描时间晚于现在，请检查设备时间", "Stamped in the future: check the device's clock"],
    "problem.sync_too_late": ["同步太晚（活动结束超过一天）", "Synced too late (over a day after the end)"],
    "problem.insufficient_points": ["积分已用，无法按新时间更正", "Points already spent: cannot correct"],
  });

  const $ = (s) => document.getElementById(s);
  const id = new URLSearchParams(location.search).get("id") || "";
  const QUEUE = "mb.scanqueue." + id, SEEN = "mb.scanlog." + id;
  const token = () => MB.token("organizer");
  let syncing = false, lastSync = null, activity = null;

  const load = (k) => { try { return JSON.parse(localStorage.getItem(k) || "[]"); } catch (e) { return []; } };
  const store = (k, v) => localStorage.setItem(k, JSON.stringify(v));
  function nonce() { const b = new Uint8Array(16); crypto.getRandomValues(b); return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(""); }
  function device() {
    let d = localStorage.getItem("mb.device");
    if (!d) { d = "设备-" + nonce().slice(0, 6); localStorage.setItem("mb.device", d); }
    return d;
  }
  // A member card's QR holds its sign-in link (…/pages/volunteer#card=MB1.c.…), or the bare code.
  function cardCode(text) {
    text = (text || "").trim();
    const i = text.indexOf("#card=");
    const code = i >= 0 ? decodeURIComponent(text.slice(i + 6).split("&")[0]) : text;
    return code.startsWith("MB1.c.") ? code : null;
  }
  const hhmm = (iso) => new Date(iso).toLocaleTimeString(MB.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false });

  function show(section) { ["signin", "desk"].forEach((s) => $(s).classList.toggle("hidden", s !== section)); }

  // ---------------------------------------------------------------- scanning: queue first, always
  function scanned(text, fromCamera) {
    const code = cardCode(text);
    const last = $("last");
    last.classList.remove("hidden");
    if (!code) { last.dataset.key = "cs.notcard"; last.textContent = MB.t("cs.notcard"); last.dataset.state = "notcard"; return false; }
    const log = load(SEEN);
    const now = new Date();
    // a camera sees the same card many times a second: one scan per card per 3 s
    if (fromCamera && log.some((s) => s.code === code && now - new Date(s.scanned_at) < 3000)) return false;
    const scan = { nonce: nonce(), code, scanned_at: now.toISOString(), offline: !navigator.onLine };
    store(QUEUE, [...load(QUEUE), scan]);
    store(SEEN, [...log, Object.assign({ outcome: "waiting" }, scan)].slice(-1000));
    last.dataset.key = "cs.queued"; last.textContent = MB.t("cs.queued"); last.dataset.state = "queued";
    render();
    sync();
    return true;
  }

  // ---------------------------------------------------------------- syncing
  async function sync() {
    if (syncing || !id) return;
    const queue = load(QUEUE);
    if (!queue.length) { render(); return; }
    if (!navigator.onLine) { render(); return; }
    syncing = true; render();
    let again = false;
    try {
      const batch = queue.slice(0, 200);
      const r = await MB.api("POST", `/v1/activities/${id}/offline-scans`, { token: token(), body: { device: device(), scans: batch } });
      settle(r.items);
      lastSync = new Date();
      again = load(QUEUE).length > 0;
    } catch (err) {
      if (err.status === 401) { MB.clearToken("organizer"); signinError(err); }
      else if (err.status && err.status >= 400 && err.status < 500 && err.status !== 429) {
        // the whole request refused (not one scan): say so on each row, and drop them
        const batch = queue.slice(0, 200);
        settle(batch.map((s) => ({ nonce: s.nonce, outcome: "refused", code: (err.problem && err.problem.code) || String(err.status) })));
      }
      // no status: no network after all; the queue waits for the next try
    } finally {
      syncing = false; render();
      if (again) setTimeout(sync, 50);
    }
  }

  function settle(items) {
    const byNonce = new Map(items.map((i) => [i.nonce, i]));
    store(QUEUE, load(QUEUE).filter((s) => !byNonce.has(s.nonce)));
    store(SEEN, load(SEEN).map((s) => (byNonce.has(s.nonce) ? Object.assign({}, s, { outcome: byNonce.get(s.nonce).outcome, result: byNonce.get(s.nonce) }) : s)));
  }

  // ---------------------------------------------------------------- showing
  function outcomeText(s) {
    const r = s.result || {};
    const a = r.attendance || {};
    if (s.outcome === "refused") return MB.t("out.refused", { why: MB.t("problem." + r.code) });
    if (s.outcome === "checked_out" && a.status === "pending") return MB.t("out.checked_out.pending", { points: a.points });
    return MB.t("out." + s.outcome, { points: a.points });
  }

  function render() {
    const online = navigator.onLine;
    $("net").dataset.online = String(online);
    $("net").textContent = MB.t(online ? "cs.online" : "cs.offline");
    if ($("last").dataset.key) $("last").textContent = MB.t($("last").dataset.key);
    const n = load(QUEUE).length;
    $("pending").textContent = String(n);
    $("queue").dataset.count = String(n);
    $("sync-state").textContent = syncing ? MB.t("cs.syncing") : n && !online ? MB.t("cs.waitnet") : lastSync ? MB.t("cs.synced", { time: hhmm(lastSync.toISOString()) }) : "";
    const list = $("results");
    list.innerHTML = "";
    for (const s of load(SEEN).slice().reverse()) {
      const li = document.createElement("li");
      li.dataset.nonce = s.nonce;
      li.dataset.outcome = s.outcome;
      if (s.result && s.result.code) li.dataset.code = s.result.code;
      li.className = s.outcome === "waiting" ? "waiting" : s.outcome === "refused" ? "bad" : "ok";
      const who = (s.result && s.result.volunteer_name) || MB.t("cs.card", { tail: s.code.slice(-4) });
      li.innerHTML = `<span class="who"></span><span class="what"></span>`;
      li.querySelector(".who").textContent = who;
      const sub = document.createElement("span"); sub.className = "sub";
      sub.textContent = hhmm(s.scanned_at) + (s.offline ? " · " + MB.t("cs.offline.tag") : "");
      li.querySelector(".who").appendChild(sub);
      li.querySelector(".what").textContent = outcomeText(s);
      list.appendChild(li);
    }
  }

  // ---------------------------------------------------------------- the camera
  let stream = null;
  async function decoder() {
    if ("BarcodeDetector" in window) {
      try {
        const det = new BarcodeDetector({ formats: ["qr_code"] });
        return async (video) => { const found = await det.detect(video); return found.length ? found[0].rawValue : null; };
      } catch (e) { /* jsQR below */ }
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
  async function startCamera() {
    try { stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }); }
    catch (e) { $("last").classList.remove("hidden"); $("last").dataset.key = "cs.camera.none"; $("last").textContent = MB.t("cs.camera.none"); return; }
    const video = $("video");
    video.srcObject = stream; await video.play();
    $("scanner").classList.remove("hidden"); $("scan-start").classList.add("hidden");
    const detect = await decoder();
    const tick = async () => {
      if (!stream) return;
      try { const text = await detect(video); if (text) scanned(text, true); } catch (e) { /* an unreadable frame */ }
      setTimeout(tick, 200);
    };
    tick();
  }
  function stopCamera() {
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    $("scanner").classList.add("hidden"); $("scan-start").classList.remove("hidden");
  }

  // ---------------------------------------------------------------- start
  function signinError(err) {
    show("signin");
    const box = $("signin-error");
    box.textContent = MB.problemText(err); box.classList.remove("hidden");
  }

  async function start() {
    if (!token()) { show("signin"); return; }
    show("desk");
    const cached = localStorage.getItem("mb.scanactivity." + id);
    if (cached) describe(JSON.parse(cached));
    render();
    if (!navigator.onLine) return;
    try {
      const a = await MB.api("GET", `/v1/activities/${id}`, { token: token() });
      localStorage.setItem("mb.scanactivity." + id, JSON.stringify(a));
      describe(a);
      sync();
    } catch (err) {
      if (err.status === 401 || err.status === 403 || err.status === 404) { if (err.status === 401) MB.clearToken("organizer"); signinError(err); }
    }
  }
  function describe(a) {
    activity = a;
    $("title").textContent = a.title;
    $("when").textContent = MB.fmtTime(a.starts_at) + " – " + MB.fmtTime(a.ends_at);
    document.body.dataset.activity = a.id;
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("signin-go").addEventListener("click", () => { MB.setToken("organizer", $("token").value); start(); });
    $("typed").addEventListener("submit", (e) => { e.preventDefault(); if (scanned($("card-code").value, false)) $("card-code").value = ""; });
    $("sync").addEventListener("click", sync);
    $("scan-start").addEventListener("click", startCamera);
    $("scan-stop").addEventListener("click", stopCamera);
    window.addEventListener("online", () => { render(); sync(); });
    window.addEventListener("offline", render);
    document.addEventListener("mb:lang", render);
    setInterval(sync, 5000);
    start();
  });
})();
