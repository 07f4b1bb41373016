// The volunteer page: sign-in, balance and history. Other sections (scan, pay) have their own scripts
// and call MB.volunteer.refresh() after they change something.
(function () {
  MB.add({
    "vol.signin": ["志愿者登录", "Volunteer sign-in"],
    "vol.signin.hint": ["请输入社区发给您的志愿者令牌", "Enter the volunteer token your community gave you"],
    "vol.token.ph": ["志愿者令牌", "Volunteer token"],
    "vol.signin.go": ["登录", "Sign in"],
    "vol.signout": ["退出登录", "Sign out"],
    "vol.hello": ["您好，", "Hello, "],
    "vol.points": ["积分", "points"],
    "vol.earned": ["累计获得", "Earned"],
    "vol.hours": ["服务小时", "Hours served"],
    "vol.redeemed": ["已兑换", "Redeemed"],
    "vol.history": ["积分记录", "History"],
    "vol.history.none": ["还没有记录，参加一次志愿活动吧！", "Nothing yet — join a volunteer activity!"],
    "kind.activity": ["志愿活动", "Volunteer activity"],
    "kind.award": ["奖励", "Award"],
    "kind.batch": ["公益日发放", "Welfare day"],
    "kind.redemption": ["兑换", "Redemption"],
    "kind.reversal": ["撤销", "Reversal"],
  });
  const $ = (s) => document.getElementById(s);
  const SECTIONS = ["account", "scan", "history"];

  const V = {
    me: null,
    token() { return MB.token("volunteer"); },
    signedIn(on) {
      $("signin").classList.toggle("hidden", on);
      document.querySelectorAll("main > section:not(#signin)").forEach((s) => s.classList.toggle("hidden", !on));
      $("signout").classList.toggle("hidden", !on);
    },
    failed(err) {
      if (err.status === 401 || err.status === 403) {
        MB.clearToken("volunteer");
        V.signedIn(false);
        $("signin-error").textContent = MB.problemText(err);
        $("signin-error").classList.remove("hidden");
        return true;
      }
      return false;
    },
    async refresh() {
      if (!V.token()) { V.signedIn(false); return; }
      try {
        const [me, account, entries] = await Promise.all([
          MB.api("GET", "/v1/me", { token: V.token() }),
          MB.api("GET", "/v1/me/account", { token: V.token() }),
          MB.api("GET", "/v1/me/entries?limit=20", { token: V.token() }),
        ]);
        V.me = me;
        V.signedIn(true);
        $("vol-name").textContent = me.name;
        $("balance").textContent = account.balance;
        $("earned").textContent = account.earned;
        $("redeemed").textContent = account.redeemed;
        $("hours").textContent = (account.minutes / 60).toFixed(1);
        // "N 分将于 YYYY-MM-DD 到期", one line per next last day of the volunteer's lots
        const lapse = $("expiries");
        if (lapse) {
          lapse.replaceChildren(...(account.expiries || []).map((x) => {
            const line = document.createElement("div");
            line.className = "expiry";
            line.textContent = `${x.points} 分将于 ${x.date} 到期`;
            return line;
          }));
        }
        const list = $("entries");
        list.innerHTML = "";
        for (const e of entries.items) {
          const li = document.createElement("li");
          li.innerHTML = '<div><div class="memo"></div><div class="when"></div></div><div class="amount"></div>';
          li.querySelector(".memo").textContent = e.memo || MB.t("kind." + e.kind);
          li.querySelector(".when").textContent = MB.fmtTime(e.at) + (e.minutes ? " · " + e.minutes + " min" : "");
          const amount = li.querySelector(".amount");
          amount.textContent = (e.amount > 0 ? "+" : "") + e.amount;
          amount.classList.add(e.amount > 0 ? "plus" : "minus");
          list.appendChild(li);
        }
        $("no-entries").classList.toggle("hidden", entries.items.length > 0);
      } catch (err) { V.failed(err); }
    },
  };
  MB.volunteer = V;

  document.addEventListener("DOMContentLoaded", () => {
    const go = () => { MB.setToken("volunteer", $("vol-token").value); $("signin-error").classList.add("hidden"); V.refresh(); };
    $("vol-signin").addEventListener("click", go);
    $("vol-token").addEventListener("keydown", (e) => { if (e.key === "Enter") go(); });
    $("signout").addEventListener("click", () => { MB.clearToken("volunteer"); V.signedIn(false); });
    document.addEventListener("mb:lang", V.refresh);
    V.refresh();
  });
})();
