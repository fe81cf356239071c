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


  // API forms: <form data-api="/api/v1/…" data-method="POST" data-redirect="/…"> submit their
  // fields as JSON to the API and show its Chinese error message; the pages stay thin and the
  // API stays the single implementation. data-type="int" / "datetime" / "array" shape values.
  function formJSON(form) {
    var out = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled) { return; }
      var t = el.getAttribute("data-type");
      if (t === "array") {
        if (!out[el.name]) { out[el.name] = []; }
        if ((el.type === "checkbox" && el.checked) || (el.type !== "checkbox" && el.value !== "")) {
          var v = el.getAttribute("data-int") !== null ? parseInt(el.value, 10) : el.value;
          out[el.name].push(v);
        }
        return;
      }
      if (el.type === "checkbox") { out[el.name] = el.checked; return; }
      if (t === "int") { out[el.name] = el.value === "" ? 0 : parseInt(el.value, 10); return; }
      if (t === "datetime") { out[el.name] = el.value === "" ? null : el.value + "T23:59:59+08:00"; return; }
      out[el.name] = el.value;
    });
    return out;
  }
  function showResult(form, ok, msg) {
    var box = form.querySelector("[data-result]") || document.querySelector("[data-result]");
    if (!box) { if (!ok) { window.alert(msg); } return; }
    box.className = "notice " + (ok ? "ok" : "bad");
    box.textContent = msg;
    box.hidden = false;
  }
  function callAPI(method, url, body) {
    return fetch(url, {
      method: method, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (t) {
        var data = {};
        try { data = t ? JSON.parse(t) : {}; } catch (e) { data = {}; }
        if (!r.ok) { throw new Error((data.error && data.error.message) || ("请求失败（" + r.status + "）")); }
        return data;
      });
    });
  }
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (!form.matches("form[data-api]")) { return; }
    e.preventDefault();
    var btn = form.querySelector("button[type=submit]");
    if (btn) { btn.disabled = true; }
    callAPI(form.getAttribute("data-method") || "POST", form.getAttribute("data-api"), formJSON(form))
      .then(function (data) {
        var to = form.getAttribute("data-redirect");
        if (to) { window.location.assign(to.replace("{id}", data.id || "")); return; }
        showResult(form, true, data.message || form.getAttribute("data-ok") || "已保存");
        if (form.hasAttribute("data-reload")) { window.location.reload(); }
      })
      .catch(function (err) { showResult(form, false, err.message); })
      .finally(function () { if (btn) { btn.disabled = false; } });
  });
  // Action buttons: <button data-action="/api/v1/…" data-method="POST" data-body='{"…"}'>
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button[data-action]");
    if (!b) { return; }
    e.preventDefault();
    var body = b.getAttribute("data-body");
    callAPI(b.getAttribute("data-method") || "POST", b.getAttribute("data-action"), body ? JSON.parse(body) : undefined)
      .then(function () {
        var to = b.getAttribute("data-redirect");
        if (to) { window.location.assign(to); } else { window.location.reload(); }
      })
      .catch(function (err) { window.alert(err.message); });
  });

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
