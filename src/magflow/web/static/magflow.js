// MagFlow dashboard: live sync progress over the WebSocket, and the overview chart.
// No build step: plain ES2017, loaded with `defer` after htmx.
(function () {
  "use strict";
  var CSRF = { "X-MagFlow-CSRF": "1" };
  var TERMINAL = ["completed", "partial", "failed", "cancelled"];
  var runs = {}; // run_id -> last progress view
  var milestones = {}; // run_id -> [milestone, ...]

  function fmtDuration(s) {
    if (s === null || s === undefined) return "—";
    s = Math.round(s);
    if (s < 60) return s + " s";
    var m = Math.floor(s / 60);
    return m < 60 ? m + " min " + (s % 60) + " s" : Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function container() { return document.querySelector("[data-live-runs]"); }

  function accountName(id) {
    var box = container();
    try { return JSON.parse(box.getAttribute("data-accounts") || "{}")[String(id)] || ("account " + id); }
    catch (e) { return "account " + id; }
  }

  function cardFor(view) {
    var box = container();
    var card = box.querySelector('[data-run-id="' + view.run_id + '"]');
    if (card) return card;
    var tpl = document.getElementById("run-template");
    card = tpl.content.firstElementChild.cloneNode(true);
    card.setAttribute("data-run-id", view.run_id);
    var cancel = card.querySelector(".run-cancel");
    if (cancel) {
      cancel.setAttribute("hx-post", "/sync/" + view.run_id + "/cancel");
      cancel.setAttribute("hx-target", "#sync-flash");
      if (!document.getElementById("sync-flash")) cancel.setAttribute("hx-swap", "none");
    }
    var empty = box.querySelector(".empty");
    if (empty) empty.hidden = true;
    box.prepend(card);
    if (window.htmx) window.htmx.process(card);
    return card;
  }

  function render(view, eventType) {
    if (!container() || !view || view.run_id === undefined) return;
    var previous = runs[view.run_id] || {};
    view = Object.assign({}, previous, view);
    runs[view.run_id] = view;
    var card = cardFor(view);
    var done = TERMINAL.indexOf(view.status) >= 0;
    var pct = view.percentage;
    if ((pct === null || pct === undefined) && view.status === "completed") pct = 100;
    var shown = pct === null || pct === undefined ? 0 : pct;
    card.className = "run status-" + view.status;
    card.querySelector(".run-title").textContent =
      "#" + view.run_id + " " + view.kind + " · " + accountName(view.account_id) + (view.mode ? " (" + view.mode + ")" : "");
    var badge = card.querySelector(".run-status");
    badge.textContent = view.status;
    badge.className = "badge run-status status-" + view.status;
    var bar = card.querySelector(".bar");
    bar.setAttribute("aria-valuenow", String(shown));
    card.querySelector(".bar-fill").style.width = shown + "%";
    card.querySelector(".bar-label").textContent = pct === null || pct === undefined ? "…" : shown + " %";
    var facts = [];
    facts.push("page " + (view.current_page || 0) + (view.total_pages ? " / " + view.total_pages : ""));
    facts.push("items " + (view.processed_items || 0) + (view.total_items !== null && view.total_items !== undefined ? " / " + view.total_items : ""));
    if (view.throughput_per_second) facts.push(view.throughput_per_second.toFixed(1) + " items/s");
    if (!done && view.eta_seconds !== null && view.eta_seconds !== undefined) facts.push("ETA " + fmtDuration(view.eta_seconds));
    if (view.failed_items) facts.push(view.failed_items + " failed");
    if (view.message) facts.push(view.message);
    card.querySelector(".run-facts").textContent = facts.join(" · ");
    var ms = milestones[view.run_id] || [];
    card.querySelector(".run-milestones").innerHTML = ms.map(function (m) {
      return '<span class="chip">' + m + " %</span>";
    }).join("");
    var cancel = card.querySelector(".run-cancel");
    if (cancel) cancel.hidden = done;
    if (done && eventType) {
      var history = document.getElementById("sync-history");
      if (history && window.htmx) window.htmx.trigger(history, "refresh");
    }
  }

  // ---- WebSocket with token fetched from /ws-token, first-message auth, resume by last id.
  var lastEventId = null;
  var retry = 0;
  var closing = false;

  function setState(text, cls) {
    var el = document.getElementById("live-state");
    if (el) { el.textContent = text; el.className = "live-state " + (cls || "muted"); }
  }

  function connect() {
    fetch("/ws-token", { headers: CSRF, credentials: "same-origin", cache: "no-store" })
      .then(function (r) {
        if (r.status === 401 || r.redirected) { window.location.href = "/login?next=" + encodeURIComponent(location.pathname); throw new Error("logged out"); }
        if (!r.ok) throw new Error("token " + r.status);
        return r.json();
      })
      .then(function (body) { open(body.token); })
      .catch(function () { schedule(); });
  }

  function open(token) {
    var url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/emag/enhanced/ws/sync-progress";
    var ws = new WebSocket(url);
    window.magflowSocket = ws;
    ws.onopen = function () {
      var auth = { type: "auth", token: token };
      if (lastEventId) auth.last_event_id = lastEventId;
      ws.send(JSON.stringify(auth));
    };
    ws.onmessage = function (message) {
      var msg;
      try { msg = JSON.parse(message.data); } catch (e) { return; }
      if (msg.id) lastEventId = msg.id;
      if (msg.type === "hello") { retry = 0; setState("live", "live"); }
      else if (msg.type === "snapshot") { (msg.runs || []).forEach(function (v) { render(v); }); }
      else if (msg.type === "heartbeat") { ws.send(JSON.stringify({ type: "ping" })); }
      else if (typeof msg.type === "string" && msg.type.indexOf("sync.") === 0 && msg.data) {
        if (msg.type === "sync.milestone" && msg.data.milestone !== undefined) {
          var list = milestones[msg.run_id] || (milestones[msg.run_id] = []);
          if (list.indexOf(msg.data.milestone) < 0) list.push(msg.data.milestone);
        }
        render(Object.assign({}, msg.data, { run_id: msg.run_id, account_id: msg.account_id }), msg.type);
      }
    };
    ws.onclose = function () {
      setState("reconnecting…", "muted");
      if (!closing) schedule();
    };
  }

  function schedule() {
    retry = Math.min(retry + 1, 6);
    setTimeout(connect, 500 * Math.pow(2, retry - 1));
  }

  // ---- Overview chart.
  function drawChart() {
    var canvas = document.getElementById("orders-chart");
    var data = document.getElementById("orders-chart-data");
    if (!canvas || !data || !window.Chart) return;
    var d = JSON.parse(data.textContent);
    var datasets = [{ type: "bar", label: "Orders", data: d.orders, backgroundColor: "rgba(37, 99, 235, 0.55)", yAxisID: "y" }];
    if (d.currency) {
      datasets.push({ type: "line", label: "Revenue (" + d.currency + ")", data: d.revenue, borderColor: "#f97316", backgroundColor: "#f97316", tension: 0.25, pointRadius: 2, yAxisID: "y1" });
    }
    new window.Chart(canvas, {
      data: { labels: d.labels, datasets: datasets },
      options: {
        maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false },
        scales: {
          y: { beginAtZero: true, position: "left", title: { display: true, text: "orders" }, ticks: { precision: 0 } },
          y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, display: !!d.currency, title: { display: true, text: d.currency } }
        }
      }
    });
  }

  function drawCustomerCharts() {
    var data = document.getElementById("customer-charts-data");
    if (!data || !window.Chart) return;
    var d = JSON.parse(data.textContent);
    var colors = ["#2563eb", "#16a34a", "#f97316", "#a855f7", "#dc2626", "#0891b2", "#6b7280"];
    [["tier-chart", d.tiers, "bar"], ["channel-chart", d.channels, "doughnut"]].forEach(function (c) {
      var canvas = document.getElementById(c[0]);
      if (!canvas) return;
      new window.Chart(canvas, {
        type: c[2],
        data: { labels: Object.keys(c[1]), datasets: [{ label: "customers", data: Object.values(c[1]), backgroundColor: colors }] },
        options: { maintainAspectRatio: false, animation: false, plugins: { legend: { display: c[2] === "doughnut", position: "right" } } }
      });
    });
  }

  // ---- Seller performance charts: rates per day, and the median acknowledgement time.
  function drawPerformanceCharts() {
    var data = document.getElementById("perf-charts-data");
    if (!data || !window.Chart) return;
    var d = JSON.parse(data.textContent);
    var colors = ["#dc2626", "#f97316", "#16a34a", "#a855f7", "#2563eb"];
    var rates = document.getElementById("perf-rates-chart");
    if (rates) {
      new window.Chart(rates, {
        type: "line",
        data: { labels: d.labels, datasets: d.rates.map(function (r, i) { return { label: r.label, data: r.data, borderColor: colors[i], backgroundColor: colors[i], spanGaps: true, tension: 0.2, pointRadius: 2 }; }) },
        options: { maintainAspectRatio: false, animation: false, interaction: { mode: "index", intersect: false }, scales: { y: { beginAtZero: true, suggestedMax: 100, title: { display: true, text: "%" } } } }
      });
    }
    var ack = document.getElementById("perf-ack-chart");
    if (ack) {
      new window.Chart(ack, {
        type: "bar",
        data: { labels: d.labels, datasets: [{ label: "median minutes", data: d.ack, backgroundColor: "rgba(37, 99, 235, 0.55)" }] },
        options: { maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } }, scales: { y: { beginAtZero: true, title: { display: true, text: "minutes" } } } }
      });
    }
  }

  // ---- Behaviour that would otherwise be inline (the Content-Security-Policy forbids inline
  // handlers and htmx's hx-on, which needs eval).
  // <input type="checkbox" data-select-all="CSS selector">: checks or unchecks those boxes.
  document.addEventListener("click", function (e) {
    var box = e.target && e.target.closest ? e.target.closest("input[data-select-all]") : null;
    if (!box) return;
    document.querySelectorAll(box.getAttribute("data-select-all")).forEach(function (c) { c.checked = box.checked; });
  });
  // <form data-reset-on-success>: cleared after a successful htmx request.
  document.addEventListener("htmx:afterRequest", function (e) {
    var form = e.target;
    if (e.detail && e.detail.successful && form && form.matches && form.matches("form[data-reset-on-success]")) form.reset();
  });

  document.addEventListener("DOMContentLoaded", function () {
    drawChart();
    drawCustomerCharts();
    drawPerformanceCharts();
    if (container()) connect();
    document.body.addEventListener("magflow-runs", function (e) {
      ((e.detail && e.detail.runs) || []).forEach(function (v) {
        if (!runs[v.run_id]) render(v); // the socket may already have reported newer states
      });
    });
  });
  window.addEventListener("beforeunload", function () { closing = true; });
})();
