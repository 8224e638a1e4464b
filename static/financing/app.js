/* Financing Desk shell: UTC clock, theme toggle, countdowns. No build step. */
(function () {
  function pad(n) { return String(n).padStart(2, "0"); }
  function tick() {
    var el = document.getElementById("utc-clock");
    if (!el) return;
    var d = new Date();
    el.textContent = d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
      " " + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds()) + " UTC";
    document.querySelectorAll("[data-deadline]").forEach(function (c) {
      var ms = Date.parse(c.dataset.deadline) - d.getTime();
      var s = Math.abs(Math.floor(ms / 1000));
      var txt = Math.floor(s / 3600) + "h " + pad(Math.floor(s % 3600 / 60)) + "m " + pad(s % 60) + "s";
      c.textContent = ms >= 0 ? txt + " left" : txt + " overdue";
      c.classList.toggle("overdue", ms < 0);
    });
  }
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
