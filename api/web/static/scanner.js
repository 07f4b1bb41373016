// The volunteer's scanner: camera (BarcodeDetector, else jsQR when loaded) or a typed code, sent to
// POST /v1/scans. Results are shown in plain words by the handler for the scan's kind:
// MB.scanResults[kind](result) -> {cls, text, sub}; other features (pay) add their own.
(function () {
  MB.add({
    "scan.title": ["扫码签到 / 签退", "Scan to check in / out"],
    "scan.hint": ["对准活动现场屏幕上的二维码。到达扫一次，离开再扫一次。", "Point at the QR code on the activity screen: once when you arrive, once when you leave."],
    "scan.camera": ["打开相机扫码", "Scan with the camera"],
    "scan.camera.stop": ["关闭相机", "Close the camera"],
    "scan.camera.none": ["无法打开相机，请手动输入", "The camera is not available; type the code instead"],
    "scan.typed": ["无法使用相机？手动输入", "No camera? Type the code"],
    "scan.code.ph": ["粘贴或输入二维码内容（MB1. 开头）", "Paste or type the code (starts with MB1.)"],
    "scan.submit": ["提交", "Submit"],
    "scan.sending": ["正在提交…", "Sending…"],
    "scan.in": ["签到成功：{title}", "Checked in: {title}"],
    "scan.in.sub": ["{time} 到达。离开时请再扫一次签退。", "Arrived at {time}. Scan again when you leave."],
    "scan.out": ["签退成功：获得 {points} 积分", "Checked out: {points} points earned"],
    "scan.out.sub": ["{title} · 服务 {minutes} 分钟。谢谢您的付出！", "{title} · {minutes} minutes served. Thank you!"],
    "scan.pending": ["签退成功：{points} 积分待审核", "Checked out: {points} points awaiting approval"],
    "scan.pending.sub": ["{title} · 服务 {minutes} 分钟，组织者审核后发放。", "{title} · {minutes} minutes; credited once the organizer approves."],
    "scan.done": ["签退成功", "Checked out"],
    "scan.done.sub": ["{title} · 服务 {minutes} 分钟，未达到积分条件。", "{title} · {minutes} minutes, not enough for points this time."],
    "scan.again": ["（重复扫码，已记录过）", " (scanned again; already recorded)"],
    "problem.code_wrong_activity": ["这是另一个活动的二维码", "This code is for another activity"],
    "problem.activity_closed": ["活动未开始、已结束或已取消", "The activity has not started, is over, or was cancelled"],
    "problem.activity_full": ["名额已满，谢谢您的热心", "The activity is full — thank you all the same"],
    "problem.already_checked_out": ["您已签退过本次活动", "You already checked out of this activity"],
    "problem.conflict": ["人太多了，请再扫一次", "Busy right now, please scan again"],
  });
  const $ = (s) => document.getElementById(s);
  const time = (iso) => { try { return new Date(iso).toLocaleTimeString(MB.lang === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit", hour12: false }); } catch (e) { return iso; } };

  MB.scanResults = MB.scanResults || {};
  MB.scanResults.activity = (r) => {
    const a = r.attendance, v = { title: r.activity.title, points: a.points, minutes: a.minutes, time: time(a.checked_in_at) };
    const key = r.action === "check_in" ? "scan.in" : a.status === "pending" ? "scan.pending" : a.status === "done" ? "scan.done" : "scan.out";
    return { cls: a.status === "pending" ? "wait" : "ok", text: MB.t(key, v) + (r.replayed ? MB.t("scan.again") : ""), sub: MB.t(key + ".sub", v) };
  };

  function show(cls, text, sub) {
    const box = $("scan-result");
    box.className = "result " + cls;
    box.textContent = text;
    if (sub) { const s = document.createElement("span"); s.className = "sub"; s.textContent = sub; box.appendChild(s); }
  }

  let busy = false;
  async function send(code) {
    code = (code || "").trim();
    if (!code || busy) return;
    busy = true;
    show("wait", MB.t("scan.sending"));
    try {
      const r = await MB.api("POST", "/v1/scans", { token: MB.token("volunteer"), body: { code } });
      const render = MB.scanResults[r.kind];
      const out = render ? render(r) : { cls: "ok", text: r.action };
      show(out.cls, out.text, out.sub);
      $("scan-result").dataset.action = r.action;
      stopCamera();
      if (MB.volunteer) MB.volunteer.refresh();
    } catch (err) {
      if (MB.volunteer && MB.volunteer.failed(err)) return;
      show("bad", MB.problemText(err));
      $("scan-result").dataset.action = "refused:" + ((err.problem && err.problem.code) || err.status);
    } finally { busy = false; }
  }

  let stream = null, timer = null;
  function stopCamera() {
    if (timer) clearInterval(timer);
    timer = null;
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    $("camera").classList.add("hidden");
    $("scan-camera").textContent = MB.t("scan.camera");
  }

  async function startCamera() {
    if (stream) { stopCamera(); return; }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
    } catch (e) { show("bad", MB.t("scan.camera.none")); $("typed").open = true; return; }
    const video = $("video");
    video.srcObject = stream;
    await video.play();
    $("camera").classList.remove("hidden");
    $("scan-camera").textContent = MB.t("scan.camera.stop");
    const detector = "BarcodeDetector" in window ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
    const canvas = document.createElement("canvas");
    timer = setInterval(async () => {
      if (busy || !video.videoWidth) return;
      let text = null;
      if (detector) {
        const found = await detector.detect(video).catch(() => []);
        text = found.length ? found[0].rawValue : null;
      } else if (window.jsQR) {
        canvas.width = video.videoWidth; canvas.height = video.videoHeight;
        const ctx = canvas.getContext("2d");
        ctx.drawImage(video, 0, 0);
        const img = ctx.getImageData(0, 0, canvas.width, canvas.height);
        const found = window.jsQR(img.data, img.width, img.height);
        text = found ? found.data : null;
      }
      if (text && text.startsWith("MB1.")) send(text);
    }, 250);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("scan-camera").addEventListener("click", startCamera);
    $("scan-submit").addEventListener("click", () => send($("scan-code").value));
    if (!navigator.mediaDevices) $("typed").open = true;
  });
  MB.scan = { send };
})();
