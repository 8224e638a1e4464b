/* Chart.js with the theme's colours; charts redraw when dark mode is toggled. */
(function () {
  var charts = [];
  function themed(cfg) {
    var css = getComputedStyle(document.documentElement);
    var text = css.getPropertyValue("--muted").trim(), grid = css.getPropertyValue("--border").trim();
    cfg.options = cfg.options || {};
    cfg.options.maintainAspectRatio = false;
    cfg.options.plugins = Object.assign({ legend: { labels: { color: text } } }, cfg.options.plugins || {});
    var scales = cfg.options.scales || {};
    ["x", "y"].forEach(function (k) {
      scales[k] = scales[k] || {};
      scales[k].ticks = Object.assign({ color: text }, scales[k].ticks || {});
      scales[k].grid = Object.assign({ color: grid }, scales[k].grid || {});
    });
    cfg.options.scales = scales;
    return cfg;
  }
  window.fdChart = function (id, cfg) {
    var el = document.getElementById(id);
    if (!el || !window.Chart) return null;
    var entry = { el: el, cfg: cfg, chart: new Chart(el, themed(cfg)) };
    charts.push(entry);
    return entry.chart;
  };
  document.addEventListener("fd:theme", function () {
    charts.forEach(function (c) {  // rebuild with the new theme's colours
      c.chart.destroy();
      c.chart = new Chart(c.el, themed(c.cfg));
    });
  });
})();
