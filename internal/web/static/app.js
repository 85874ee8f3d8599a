// Lianlu console: live regions and SLA countdowns. Pages work without this
// script; it only keeps them current.
(function () {
  "use strict";
  var body = document.body;
  var units = (body.dataset.units || "%dd|%dh|%dm|%ds| ").split("|");
  var leftFmt = body.dataset.slaLeft || "%s left";
  var overdueFmt = body.dataset.slaOverdue || "overdue by %s";

  function unit(i, n) { return units[i].replace("%d", String(n)); }

  // duration writes milliseconds as their two largest units, like the
  // server does.
  function duration(ms) {
    var s = Math.floor(Math.abs(ms) / 1000);
    var parts = [], sizes = [86400, 3600, 60, 1];
    for (var i = 0; i < sizes.length && parts.length < 2; i++) {
      var n = Math.floor(s / sizes[i]);
      if (n > 0 || (parts.length === 0 && i === 3)) { parts.push(unit(i, n)); s -= n * sizes[i]; }
    }
    return parts.join(units[4]);
  }

  function tick() {
    var now = Date.now();
    var els = document.querySelectorAll("time[data-due]");
    for (var i = 0; i < els.length; i++) {
      var el = els[i], left = Date.parse(el.dataset.due) - now;
      el.textContent = (left < 0 ? overdueFmt : leftFmt).replace("%s", duration(left));
      el.classList.toggle("overdue", left < 0);
      el.classList.toggle("soon", left >= 0 && left < 3600 * 1000);
    }
  }
  tick();
  setInterval(tick, 1000);

  var regions = document.querySelectorAll("[data-live]");
  if (!regions.length || !window.EventSource || !window.fetch) return;
  var state = document.getElementById("livestate");

  // busy: the user is typing in or has opened a form inside a live region;
  // refreshing now would throw their input away, so wait.
  function busy() {
    var a = document.activeElement;
    for (var i = 0; i < regions.length; i++) {
      if (a && a !== body && regions[i].contains(a) && /^(INPUT|TEXTAREA|SELECT)$/.test(a.tagName)) return true;
      if (regions[i].querySelector("details[open]")) return true;
    }
    return false;
  }

  var pending = false, running = false, timer = null;
  function refresh() {
    timer = null;
    if (running) { pending = true; return; }
    if (busy()) { pending = true; return; }
    pending = false; running = true;
    fetch(location.href, { headers: { "X-Lianlu-Live": "1" }, credentials: "same-origin" })
      .then(function (res) {
        if (res.status === 401) { location.reload(); return null; }
        return res.ok ? res.text() : null;
      })
      .then(function (html) {
        if (html === null || html === undefined) return;
        regions[0].innerHTML = html;
        regions = document.querySelectorAll("[data-live]");
        tick();
        body.dataset.refreshed = String(Date.now());
        document.dispatchEvent(new CustomEvent("lianlu:refreshed"));
      })
      .catch(function () {})
      .then(function () { running = false; if (pending) schedule(); });
  }
  function schedule() { if (!timer) timer = setTimeout(refresh, 300); }

  document.addEventListener("focusout", function () { if (pending) setTimeout(schedule, 100); });
  document.addEventListener("toggle", function () { if (pending) schedule(); }, true);

  var es = new EventSource("/live");
  es.addEventListener("open", function () {
    if (state) { state.classList.add("on"); state.textContent = body.dataset.liveOn || state.textContent; }
  });
  es.addEventListener("changed", schedule);
  es.addEventListener("error", function () {
    if (state) { state.classList.remove("on"); state.textContent = body.dataset.liveOff || state.textContent; }
  });
})();
