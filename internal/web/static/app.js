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
  // API stays the single implementation. data-type="int" / "number" / "json" / "datetime" / "array" /
  // "csv" shape values; dotted names nest.
  function formJSON(form) {
    var root = {};
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.disabled || el.name === "_csrf") { return; }
      // Dotted names nest: name="sms.provider" gives {"sms": {"provider": …}}.
      var out = root, parts = el.name.split(".");
      for (var i = 0; i < parts.length - 1; i++) { out = out[parts[i]] = out[parts[i]] || {}; }
      var name = parts[parts.length - 1];
      var t = el.getAttribute("data-type");
      if (t === "array") {
        if (!out[name]) { out[name] = []; }
        if ((el.type === "checkbox" && el.checked) || (el.type !== "checkbox" && el.value !== "")) {
          var v = el.getAttribute("data-int") !== null ? parseInt(el.value, 10) : el.value;
          out[name].push(v);
        }
        return;
      }
      if (el.type === "checkbox") { out[name] = el.checked; return; }
      if (t === "int") { out[name] = el.value === "" ? 0 : parseInt(el.value, 10); return; }
      if (t === "number") { out[name] = el.value === "" ? 0 : parseFloat(el.value); return; }
      if (t === "json") {
        try { out[name] = el.value.trim() === "" ? null : JSON.parse(el.value); } catch (e) { out[name] = el.value; }
        return;
      }
      if (t === "datetime") { out[name] = el.value === "" ? null : el.value + "T23:59:59+08:00"; return; }
      if (t === "csv") { out[name] = el.value.split(",").map(function (x) { return x.trim(); }).filter(Boolean); return; }
      out[name] = el.value;
    });
    return root;
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
      headers: withCSRF({ "Content-Type": "application/json", "Accept": "application/json" }),
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (r) {
      return r.text().then(function (t) {
        var data = {};
        try { data = t ? JSON.parse(t) : {}; } catch (e) { data = {}; }
        if (!r.ok) { throw new Error((data.error && data.error.message) || ("请求失败（" + r.status + "）")); }
        if (data.purge) { purgeAccounts(data.purge); }
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
        if (to) { window.location.assign(to.replace("{id}", data.id || "").replace("{next}", data.next || "/")); return; }
        showResult(form, true, data.message || form.getAttribute("data-ok") || "已保存");
        if (form.hasAttribute("data-reload")) { window.location.reload(); }
      })
      .catch(function (err) { showResult(form, false, err.message); })
      .finally(function () { if (btn) { btn.disabled = false; } });
  });
  // Action buttons: <button data-action="/api/v1/…" data-method="POST" data-body='{"…"}'>.
  // data-include="a b" adds the named fields of the button's form to the body; data-stay shows
  // the answer in the form's [data-result] instead of reloading; data-cooldown="60" keeps the
  // button disabled (with a countdown) after success; data-switch tells other tabs that the
  // browser's active account changed.
  document.addEventListener("click", function (e) {
    var b = e.target.closest("button[data-action]");
    if (!b) { return; }
    e.preventDefault();
    var raw = b.getAttribute("data-body");
    var body = raw ? JSON.parse(raw) : undefined;
    var inc = b.getAttribute("data-include");
    if (inc && b.form) {
      body = body || {};
      inc.split(/\s+/).forEach(function (n) { var f = b.form.elements[n]; if (f) { body[n] = f.value; } });
    }
    b.disabled = true;
    callAPI(b.getAttribute("data-method") || "POST", b.getAttribute("data-action"), body)
      .then(function (data) {
        if (b.hasAttribute("data-switch")) { broadcast({ event: "switch", ns: data.ns || "" }); }
        if (b.hasAttribute("data-stay")) {
          showResult(b.form || document, true, data.message || "已完成");
          cooldown(b, parseInt(b.getAttribute("data-cooldown") || "0", 10));
          return;
        }
        var to = b.getAttribute("data-redirect");
        if (to) { window.location.assign(to); } else { window.location.reload(); }
      })
      .catch(function (err) {
        b.disabled = false;
        if (b.hasAttribute("data-stay")) { showResult(b.form || document, false, err.message); } else { window.alert(err.message); }
      });
  });
  function cooldown(b, secs) {
    if (!secs) { b.disabled = false; return; }
    var label = b.getAttribute("data-label") || b.textContent;
    b.setAttribute("data-label", label);
    var left = secs;
    var tick = function () {
      if (left <= 0) { b.disabled = false; b.textContent = label; return; }
      b.textContent = left + " 秒后可重新获取";
      left--;
      setTimeout(tick, 1000);
    };
    tick();
  }

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
        headers: withCSRF({ "Content-Type": "application/json" }),
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

  // Charts: <div class="chart" data-chart="id-of-json-script"></div>. A data item with a "url"
  // (drill-down) opens it when its bar, point or slice is clicked.
  function renderCharts(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var src = document.getElementById(el.getAttribute("data-chart"));
      if (!src) { return; }
      var chart = window.echarts.getInstanceByDom(el) || window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(src.textContent), true);
      if (!el.hasAttribute("data-click-bound")) {
        el.setAttribute("data-click-bound", "1");
        chart.on("click", function (p) {
          if (p && p.data && p.data.url) { window.location.assign(p.data.url); }
        });
      }
      el.setAttribute("data-rendered", "1");
    });
  }
  function disposeCharts(root) {
    if (!window.echarts) { return; }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var c = window.echarts.getInstanceByDom(el); if (c) { c.dispose(); }
    });
  }
  document.addEventListener("DOMContentLoaded", function () { renderCharts(document); startLive(); });
  document.addEventListener("htmx:afterSettle", function (e) { renderCharts(e.target); });

  // Selects with data-autosubmit submit their form when changed (dashboard filters).
  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.matches && el.matches("select[data-autosubmit]") && el.form) { el.form.submit(); }
  });

  // Live refresh: an element with data-live="/api/…/events" (a Server-Sent Events stream) and
  // data-live-target="element id" refetches the page when the stream sends "update" and swaps
  // the target's content in place, re-rendering its charts. body[data-live-updates] counts the
  // refreshes; one refresh at a time, a burst of updates ends in one more.
  var live = null;
  function startLive() {
    var el = document.querySelector("[data-live]");
    if (!el || !window.EventSource || live) { return; }
    var target = el.getAttribute("data-live-target");
    var busy = false, again = false, count = 0;
    function refresh() {
      if (busy) { again = true; return; }
      busy = true;
      fetch(window.location.href, { credentials: "same-origin", headers: { "HX-Request": "true", "Accept": "text/html" } })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.text(); })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById(target);
          var cur = document.getElementById(target);
          if (!fresh || !cur) { return; }
          disposeCharts(cur);
          cur.innerHTML = fresh.innerHTML;
          renderCharts(cur);
          count++;
          document.body.setAttribute("data-live-updates", String(count));
        })
        .catch(function () { /* the next update retries */ })
        .finally(function () { busy = false; if (again) { again = false; refresh(); } });
    }
    live = new EventSource(el.getAttribute("data-live"));
    live.addEventListener("hello", function () { document.body.setAttribute("data-live-connected", "1"); });
    live.addEventListener("update", refresh);
    window.addEventListener("pagehide", function () { if (live) { live.close(); live = null; } });
  }
  window.addEventListener("resize", function () {
    if (!window.echarts) { return; }
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var c = window.echarts.getInstanceByDom(el); if (c) { c.resize(); }
    });
  });
  // Several accounts in one browser (internal/iam/accounts.go). Every page of a logged-in
  // account carries its session's CSRF token and its storage namespace; requests send the
  // token back, so a page left open for account A cannot act after the browser switched to
  // account B. Browser storage of an account lives under "zs:<namespace>:" and is removed
  // when that account logs out.
  function meta(name) {
    var m = document.querySelector('meta[name="' + name + '"]');
    return m ? m.getAttribute("content") : "";
  }
  var csrf = meta("zhsj-csrf"), accountNS = meta("zhsj-account");
  function withCSRF(h) { if (csrf) { h["X-CSRF-Token"] = csrf; } return h; }
  document.addEventListener("htmx:configRequest", function (e) { if (csrf) { e.detail.headers["X-CSRF-Token"] = csrf; } });
  document.addEventListener("submit", function (e) {
    var f = e.target;
    if (!csrf || f.hasAttribute("data-api") || (f.getAttribute("method") || "").toLowerCase() !== "post" || f.elements._csrf) { return; }
    var i = document.createElement("input");
    i.type = "hidden"; i.name = "_csrf"; i.value = csrf;
    f.appendChild(i);
  }, true);
  window.zhsjStore = {
    key: function (k) { return "zs:" + accountNS + ":" + k; },
    get: function (k) { try { return window.localStorage.getItem(this.key(k)); } catch (e) { return null; } },
    set: function (k, v) { try { window.localStorage.setItem(this.key(k), v); } catch (e) { /* storage full or disabled */ } },
    remove: function (k) { try { window.localStorage.removeItem(this.key(k)); } catch (e) { /* disabled */ } }
  };
  var channel = window.BroadcastChannel ? new window.BroadcastChannel("zhsj-auth") : null;
  function broadcast(msg) { if (channel) { channel.postMessage(msg); } }
  function purgeAccounts(list) {
    list.forEach(function (ns) {
      if (!/^[0-9a-f]{12}$/.test(ns)) { return; }
      var prefix = "zs:" + ns + ":";
      [window.localStorage, window.sessionStorage].forEach(function (st) {
        try {
          for (var i = st.length - 1; i >= 0; i--) { var k = st.key(i); if (k && k.indexOf(prefix) === 0) { st.removeItem(k); } }
        } catch (e) { /* storage disabled */ }
      });
      if (window.caches) {
        window.caches.keys().then(function (names) {
          names.forEach(function (n) { if (n.indexOf(prefix) === 0) { window.caches.delete(n); } });
        }).catch(function () {});
      }
      broadcast({ event: "logout", ns: ns });
    });
  }
  function activeAccount() {
    var m = document.cookie.match(/(?:^|;\s*)zhsj_active=([0-9a-f]+)/);
    return m ? m[1] : "";
  }
  // A page whose account is no longer the browser's active one says so and stops acting.
  function checkStale() {
    var active = activeAccount();
    if (accountNS && active && active !== accountNS) { markStale(); }
  }
  function markStale() {
    if (document.body.classList.contains("stale-account")) { return; }
    document.body.classList.add("stale-account");
    var main = document.getElementById("main") || document.body;
    var n = document.createElement("div");
    n.className = "notice warn stale-banner";
    n.id = "stale-account";
    n.textContent = "本页面属于另一个账号：浏览器当前登录的账号已切换或已退出。请刷新页面后再操作。";
    main.insertBefore(n, main.firstChild);
    document.querySelectorAll("main button, main input[type=submit]").forEach(function (b) { b.disabled = true; });
  }
  if (channel) {
    channel.onmessage = function (e) {
      if (e.data && e.data.event === "logout" && accountNS && e.data.ns === accountNS) { markStale(); } else { checkStale(); }
    };
  }
  window.addEventListener("focus", checkStale);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) { checkStale(); } });
  window.addEventListener("pageshow", function (e) { if (e.persisted) { window.location.reload(); } else { checkStale(); } });
  document.addEventListener("DOMContentLoaded", function () {
    var p = document.querySelector("[data-purge]");
    if (p) { purgeAccounts(p.getAttribute("data-purge").split(/\s+/)); }
  });

  // Tabs: <a data-tab="panel-id"> shows its panel and hides the other panels of the group.
  document.addEventListener("click", function (e) {
    var t = e.target.closest("[data-tab]");
    if (!t) { return; }
    e.preventDefault();
    var group = t.parentNode;
    group.querySelectorAll("[data-tab]").forEach(function (x) {
      var panel = document.getElementById(x.getAttribute("data-tab"));
      x.classList.toggle("active", x === t);
      if (panel) { panel.hidden = x !== t; }
    });
  });
})();
