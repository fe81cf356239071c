// zhsj console behaviour: menu toggle on phones, confirmations, live password policy
// feedback and chart rendering from JSON blocks. No inline scripts (CSP script-src 'self').
(function () {
  "use strict";
  document.addEventListener("click", function (e) {
    var t = e.target.closest("[data-toggle-menu]");
    if (t) { document.getElementById("sidemenu").classList.toggle("open"); }
    var c = e.target.closest("[data-confirm]");
    if (c && !window.confirm(c.getAttribute("data-confirm"))) { e.preventDefault(); e.stopImmediatePropagation(); }
  }, true);

  // Live password policy feedback: an input with data-policy-check posts to the check API
  // and marks each rule of the list named by data-policy-list.
  var timer;
  document.addEventListener("input", function (e) {
    var el = e.target;
    if (!el.matches || !el.matches("[data-policy-check]")) { return; }
    clearTimeout(timer);
    timer = setTimeout(function () {
      fetch("/api/v1/me/password/check", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ password: el.value })
      }).then(function (r) { return r.json(); }).then(function (res) {
        var list = document.getElementById(el.getAttribute("data-policy-list"));
        if (!list || !res.rules) { return; }
        list.innerHTML = "";
        res.rules.forEach(function (rule) {
          var li = document.createElement("li");
          li.className = rule.ok ? "ok" : "bad";
          li.textContent = (rule.ok ? "✓ " : "✗ ") + rule.text;
          list.appendChild(li);
        });
      }).catch(function () {});
    }, 200);
  });

  // Charts: <div class="chart" data-chart="id-of-json-script"></div>
  function renderCharts(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var src = document.getElementById(el.getAttribute("data-chart"));
      if (!src) { return; }
      var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(src.textContent));
      el.setAttribute("data-rendered", "1");
    });
  }
  document.addEventListener("DOMContentLoaded", function () { renderCharts(document); });
  document.addEventListener("htmx:afterSettle", function (e) { renderCharts(e.target); });
  window.addEventListener("resize", function () {
    if (!window.echarts) { return; }
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var c = window.echarts.getInstanceByDom(el); if (c) { c.resize(); }
    });
  });
})();
