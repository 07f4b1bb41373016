// Large text and high contrast, one switch away on any page that loads this script: a button
// is added beside the language switch; the choice is kept on this device.
(function () {
  const KEY = "mb.display";
  const root = document.documentElement;
  const apply = (on) => { root.classList.toggle("mb-large", on); root.classList.toggle("mb-contrast", on); };
  apply(localStorage.getItem(KEY) === "large");
  if (window.MB) MB.add({ "display.switch": ["大字", "Large text"], "display.switch.off": ["标准", "Standard"] });
  document.addEventListener("DOMContentLoaded", () => {
    if (!document.querySelector('link[href="/static/display.css"]')) {
      const css = document.createElement("link"); css.rel = "stylesheet"; css.href = "/static/display.css"; document.head.appendChild(css);
    }
    const lang = document.querySelector("[data-lang-switch]");
    if (!lang || document.querySelector("[data-display-switch]")) return;
    const b = document.createElement("button");
    b.className = "lang display-switch";
    b.setAttribute("data-display-switch", "");
    const label = () => {
      const on = root.classList.contains("mb-large");
      b.textContent = window.MB ? MB.t(on ? "display.switch.off" : "display.switch") : (on ? "标准" : "大字");
      b.setAttribute("aria-pressed", on ? "true" : "false");
    };
    b.addEventListener("click", () => {
      const on = !root.classList.contains("mb-large");
      localStorage.setItem(KEY, on ? "large" : "standard");
      apply(on); label();
    });
    lang.parentNode.insertBefore(b, lang);
    // Inline buttons are spaced by the white space between them in the page's HTML: keep that.
    if (!/flex|grid/.test(getComputedStyle(lang.parentNode).display)) lang.parentNode.insertBefore(document.createTextNode(" "), lang);
    label();
    document.addEventListener("mb:lang", label);
  });
})();
