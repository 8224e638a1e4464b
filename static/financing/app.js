/* Financing Desk shell: UTC clock, theme toggle, the countdowns of every page. No build step. */
(function () {
  function pad(n) { return String(n).padStart(2, "0"); }
  function tick() {
    var d = new Date();
    countdowns(d.getTime());
    var el = document.getElementById("utc-clock");
    if (!el) return;
    el.textContent = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
  }
  /* The one countdown: every .countdown[data-deadline] counts down live; past the deadline it
     turns red and reads data-past ("overdue by %s" unless the element says otherwise, e.g. an
     SLA clock's "breached %s ago"). htmx swaps re-tick at once. */
  function countdowns(now) {
    document.querySelectorAll(".countdown[data-deadline]").forEach(function (el) {
      var ms = Date.parse(el.dataset.deadline) - now;
      var past = ms < 0; ms = Math.abs(ms);
      var h = Math.floor(ms / 3600000), m = Math.floor(ms % 3600000 / 60000), s = Math.floor(ms % 60000 / 1000);
      var text = (h ? h + "h " : "") + (h || m ? m + "m " : "") + s + "s";
      el.textContent = past ? (el.dataset.past || "overdue by %s").replace("%s", text) : text + " left";
      el.classList.toggle("overdue", past);
    });
  }
  document.addEventListener("htmx:afterSwap", function () { countdowns(Date.now()); });
  document.addEventListener("DOMContentLoaded", function () {
    tick(); setInterval(tick, 1000);
    var t = document.getElementById("theme-toggle");
    if (t) t.addEventListener("click", function () {
      var next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      localStorage.setItem("fd-theme", next);
      document.dispatchEvent(new CustomEvent("fd:theme", { detail: next }));
    });
  });
})();
