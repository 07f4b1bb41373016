// Shared helpers for moralbank pages: translations (Chinese first), tokens, the JSON API.
(function () {
  const dict = { zh: {}, en: {} };
  const MB = {
    lang: localStorage.getItem("mb.lang") || "zh",
    add(translations) {
      for (const [key, pair] of Object.entries(translations)) { dict.zh[key] = pair[0]; dict.en[key] = pair[1]; }
    },
    t(key, vars) {
      let s = (dict[MB.lang] && dict[MB.lang][key]) || dict.zh[key] || key;
      for (const [k, v] of Object.entries(vars || {})) s = s.replaceAll("{" + k + "}", v);
      return s;
    },
    translate(root) {
      (root || document).querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = MB.t(el.dataset.i18n); });
      (root || document).querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = MB.t(el.dataset.i18nPlaceholder); });
      document.documentElement.lang = MB.lang === "zh" ? "zh-CN" : "en";
    },
    setLang(lang) { MB.lang = lang; localStorage.setItem("mb.lang", lang); MB.translate(); document.dispatchEvent(new Event("mb:lang")); },
    token(role) { return localStorage.getItem("mb.token." + role) || ""; },
    setToken(role, token) { localStorage.setItem("mb.token." + role, token.trim()); },
    clearToken(role) { localStorage.removeItem("mb.token." + role); },
    async api(method, path, { token, body, headers } = {}) {
      const h = Object.assign({ Accept: "application/json" }, headers || {});
      if (token) h.Authorization = "Bearer " + token;
      if (body !== undefined) h["Content-Type"] = "application/json";
      // Read-your-writes: a read waits until what it shows includes this page's last write.
      const written = sessionStorage.getItem("mb.position");
      if (method === "GET" && written && !h["Read-After"]) h["Read-After"] = written;
      const res = await fetch(path, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
      const position = res.ok && res.headers.get("Log-Position");
      if (position && Number(position) > Number(written || 0)) sessionStorage.setItem("mb.position", position);
      const text = await res.text();
      let data = null;
      try { data = text ? JSON.parse(text) : null; } catch (e) { data = { detail: text }; }
      if (!res.ok) { const err = new Error((data && (data.detail || data.title)) || res.statusText); err.status = res.status; err.problem = data || {}; throw err; }
      return data;
    },
    // A problem's stable code, in words for people.
    problemText(err) { const code = err.problem && err.problem.code; return code ? MB.t("problem." + code) : err.message; },
    fmtTime(iso) { try { return new Date(iso).toLocaleString(MB.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false }); } catch (e) { return iso; } },
  };
  MB.add({
    "app.name": ["道德银行", "Moral Bank"],
    "app.motto": ["储蓄爱心 · 传递善行", "Save up kindness, pass good deeds on"],
    "lang.switch": ["English", "中文"],
    "problem.unauthorized": ["请先登录（令牌无效或已撤销）", "Please sign in (token missing, wrong or revoked)"],
    "problem.forbidden": ["没有权限", "Not allowed"],
    "problem.not_found": ["找不到", "Not found"],
    "problem.insufficient_points": ["积分不足", "Not enough points"],
    "problem.code_expired": ["二维码已过期，请重新扫描", "This code has expired, scan again"],
    "problem.code_used": ["二维码已使用", "This code was already used"],
    "problem.code_invalid": ["无效的二维码", "Not a valid code"],
    "problem.validation_error": ["输入有误", "Please check the input"],
  });
  window.MB = MB;
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("[data-lang-switch]").forEach((b) => b.addEventListener("click", () => MB.setLang(MB.lang === "zh" ? "en" : "zh")));
    MB.translate();
  });
})();
