/// The dashboard's one page: tabs for the overview (nodes, resources, object store, charts), jobs,
/// tasks, actors, tuning experiments, Serve applications, dataset executions and logs, refreshed every second from the JSON API.
enum DashboardPage {
    static let html = """
    <!doctype html>
    <html lang="en"><head><meta charset="utf-8"><title>swift-ray dashboard</title>
    <style>
    body{font-family:system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2330}
    header{background:#1d2330;color:#fff;padding:10px 20px;display:flex;gap:18px;align-items:center}
    header h1{font-size:18px;margin:0 18px 0 0} nav a{color:#c9d3e6;text-decoration:none;cursor:pointer}
    nav a.on{color:#fff;font-weight:600} main{padding:16px 20px} table{border-collapse:collapse;width:100%;background:#fff}
    th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #e3e6ec;font-size:13px} th{background:#eef1f5}
    .cards{display:flex;gap:12px;flex-wrap:wrap;margin-bottom:14px} .card{background:#fff;padding:10px 14px;border-radius:6px;min-width:150px}
    .card b{display:block;font-size:22px} svg{background:#fff;border-radius:6px} .muted{color:#6b7385;font-size:12px}
    input{padding:4px 8px;margin-bottom:8px}
    </style></head><body>
    <header><h1>swift-ray</h1><nav id="nav"></nav><span class="muted" id="updated"></span></header>
    <main id="main">Loading…</main>
    <script>
    const tabs = ["overview", "jobs", "tasks", "actors", "tune", "serve", "data", "logs"];
    // `#logs=PID` opens a worker's log.
    // `#token=TOKEN` (never sent to the server, unlike a query) or the form shown on a 401 gives
    // the cluster token, kept for this tab only and sent as `Authorization: Bearer`.
    if (location.hash.startsWith("#token=")) {
      sessionStorage.setItem("token", decodeURIComponent(location.hash.slice(7)));
      history.replaceState(null, "", location.pathname);
    }
    let [tab, logPid] = (location.hash.slice(1) || "overview").split("="), filter = "";
    let askingToken = false;
    function askToken() {
      askingToken = true;
      document.getElementById("main").innerHTML = "<p>This dashboard needs the cluster token.</p>" +
        "<form onsubmit='sessionStorage.setItem(\\"token\\", this.t.value); askingToken = false; refresh(); return false'>" +
        "<input name='t' type='password' placeholder='token' autofocus> <button>Open</button></form>";
    }
    function when(us) { return us ? new Date(us / 1000).toLocaleString() : ""; }
    function esc(v) { return String(v ?? "").replace(/[&<>]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;"}[c])); }
    function table(rows, cols) {
      return "<table><tr>" + cols.map(c => "<th>" + esc(c) + "</th>").join("") + "</tr>" +
        rows.map(r => "<tr>" + cols.map(c => "<td>" + esc(typeof r[c] === "object" ? JSON.stringify(r[c]) : r[c]) + "</td>").join("") + "</tr>").join("") + "</table>";
    }
    function chart(samples, key, label) {
      const w = 420, h = 110, vals = samples.map(s => s[key]), max = Math.max(1, ...vals);
      const pts = vals.map((v, i) => (i * w / Math.max(1, vals.length - 1)).toFixed(1) + "," + (h - 5 - v * (h - 20) / max).toFixed(1)).join(" ");
      return "<div><div class='muted'>" + esc(label) + " (max " + max.toFixed(1) + ")</div><svg width='" + w + "' height='" + h + "'><polyline fill='none' stroke='#3867d6' stroke-width='2' points='" + pts + "'/></svg></div>";
    }
    // One line per trial: each learning curve over its reports, on shared axes.
    function curves(trials, label) {
      const w = 640, h = 220, colors = ["#3867d6", "#eb3b5a", "#20bf6b", "#f7b731", "#8854d0", "#0fb9b1", "#fa8231", "#4b6584"];
      const all = trials.flatMap(t => t.curve).filter(v => Number.isFinite(v));
      if (!all.length) return "<p class='muted'>no reports yet</p>";
      const lo = Math.min(...all), hi = Math.max(...all), span = hi - lo || 1, n = Math.max(2, ...trials.map(t => t.curve.length));
      const lines = trials.map((t, k) => "<polyline class='curve' fill='none' stroke-width='1.5' stroke='" + colors[k % colors.length] + "' points='" +
        t.curve.map((v, i) => (i * (w - 10) / (n - 1) + 5).toFixed(1) + "," + (h - 5 - (v - lo) * (h - 20) / span).toFixed(1)).join(" ") +
        "'><title>" + esc(t.trialID) + "</title></polyline>").join("");
      return "<div class='muted'>" + esc(label) + " by report (" + lo.toPrecision(4) + " to " + hi.toPrecision(4) + ")</div><svg width='" + w + "' height='" + h + "'>" + lines + "</svg>";
    }
    function tune(experiments) {
      if (!experiments.length) return "<p>No tuning experiments yet: a driver running <code>Tuner.fit()</code> publishes its trials here.</p>";
      return experiments.map(e => {
        const counts = e.counts;
        const scored = e.trials.filter(t => Number.isFinite(t.latest[e.metric]));
        const best = scored.sort((a, b) => e.mode === "min" ? a.latest[e.metric] - b.latest[e.metric] : b.latest[e.metric] - a.latest[e.metric])[0];
        const rows = e.trials.map(t => Object.assign({trialID: t.trialID, status: t.status, config: t.config, iterations: t.iterations}, {[e.metric]: t.latest[e.metric]}));
        return "<h3 class='experiment'>" + esc(e.name) + (e.finished ? " (finished)" : " (running)") + "</h3><div class='cards'>" +
          Object.keys(counts).map(k => "<div class='card'>" + esc(k) + "<b>" + counts[k] + "</b></div>").join("") +
          (best ? "<div class='card'>Best " + esc(e.metric) + "<b>" + best.latest[e.metric].toPrecision(5) + "</b>" + esc(best.trialID) + "</div>" : "") +
          "</div>" + curves(e.trials.slice(0, 50), e.metric) + table(rows, ["trialID", "status", "config", "iterations", e.metric]);
      }).join("");
    }
    // Serve: each host's proxy, then one row per application with its deployment's figures.
    function serve(hosts) {
      if (!hosts.length) return "<p>No Serve applications yet: a driver running <code>Serve.run</code> (or a Serve host given a config by <code>swiftray serve deploy</code>) publishes them here.</p>";
      const apps = hosts.flatMap(h => h.applications.map(a => ({application: a.name, route: a.routePrefix, status: a.status,
        deployment: a.deployment.name, health: a.deployment.status, replicas: a.deployment.runningReplicas + " / " + a.deployment.targetReplicas,
        ongoing: a.deployment.ongoingRequests, queued: a.deployment.queuedRequests, served: a.deployment.served, failed: a.deployment.failed,
        refused: a.deployment.refused, "p50 ms": a.deployment.p50Ms?.toFixed(2), "p99 ms": a.deployment.p99Ms?.toFixed(2), message: a.message})));
      const urls = hosts.flatMap(h => (h.proxyURL ? [h.proxyURL] : []).concat(Object.values(h.nodeProxies || {})));
      const totals = apps.reduce((t, a) => ({served: t.served + a.served, failed: t.failed + a.failed}), {served: 0, failed: 0});
      return "<div class='cards'><div class='card'>Proxies<b>" + urls.length + "</b>" + esc(urls.join(" ")) + "</div>" +
        "<div class='card'>Applications<b>" + apps.length + "</b></div><div class='card'>Requests served<b>" + totals.served + "</b>" + totals.failed + " failed</div></div>" +
        "<h3>Applications</h3>" + table(apps, ["application", "route", "status", "deployment", "health", "replicas", "ongoing", "queued", "served", "failed", "refused", "p50 ms", "p99 ms", "message"]) +
        hosts.filter(h => h.configError).map(h => "<p class='muted'>config error: " + esc(h.configError) + "</p>").join("");
    }
    // Data: one row per dataset execution, then its operators (Ray's Ray Data overview).
    function data(datasets) {
      if (!datasets.length) return "<p>No datasets yet: a driver consuming a <code>Dataset</code> publishes each execution's operators here.</p>";
      const mib = b => (b / 1048576).toFixed(1);
      const rows = datasets.map(d => {
        const last = d.operators[d.operators.length - 1] || {tasks: 0, rows: 0, bytes: 0};
        return {dataset: d.name, state: d.state, driver: d.driverPID, blocks: last.tasks, "rows out": last.rows, "MiB out": mib(last.bytes),
          started: when(d.startedAt), ended: when(d.endedAt), seconds: (((d.endedAt || d.updatedAt) - d.startedAt) / 1e6).toFixed(2), error: d.error};
      });
      const counts = {}; datasets.forEach(d => counts[d.state] = (counts[d.state] || 0) + 1);
      return "<div class='cards'>" + Object.keys(counts).map(k => "<div class='card'>" + esc(k) + "<b>" + counts[k] + "</b></div>").join("") + "</div>" +
        table(rows, ["dataset", "state", "driver", "blocks", "rows out", "MiB out", "started", "ended", "seconds", "error"]) +
        datasets.slice(0, 10).map(d => "<h3 class='dataset'>" + esc(d.name) + " <span class='muted'>" + esc(d.state) + "</span></h3>" +
          table(d.operators.map(o => ({operator: o.name, tasks: o.tasks, rows: o.rows, "MiB out": mib(o.bytes), "task seconds": o.seconds.toFixed(3), "peak block MiB": mib(o.peakBlockBytes)})),
            ["operator", "tasks", "rows", "MiB out", "task seconds", "peak block MiB"])).join("");
    }
    function nav() {
      document.getElementById("nav").innerHTML = tabs.map(t => "<a class='" + (t === tab ? "on" : "") + "' onclick='go(\\"" + t + "\\")'>" + t + "</a>").join(" ");
    }
    function go(t) { tab = t; location.hash = t; nav(); refresh(); }
    async function get(path, params) {
      const token = sessionStorage.getItem("token");
      const r = await fetch(path + (params ? "?" + params : ""), {headers: token ? {Authorization: "Bearer " + token} : {}});
      if (r.status === 401) { askToken(); throw new Error("token required"); }
      if (!r.ok) throw new Error(path + ": " + r.status);
      return r.json();
    }
    function throughput(h) {
      return h.map((s, i) => ({perSecond: i === 0 ? 0 : Math.max(0, (s.finishedTasks - h[i - 1].finishedTasks) / Math.max(0.001, s.time - h[i - 1].time))}));
    }
    async function refresh() {
      if (askingToken) return;
      try {
        const s = await get("/api/state");
        const main = document.getElementById("main");
        if (tab === "overview") {
          const h = await get("/api/history");
          const live = s.nodes.filter(n => n.alive);
          const cpu = live.reduce((a, n) => a + (n.total.CPU || 0), 0), free = live.reduce((a, n) => a + (n.available.CPU || 0), 0);
          const bytes = s.objects.reduce((a, o) => a + o.size, 0);
          const counts = {}; s.tasks.forEach(t => counts[t.state] = (counts[t.state] || 0) + 1);
          main.innerHTML = "<div class='cards'>" +
            "<div class='card'>Nodes alive<b id='nodes-alive'>" + live.length + "</b></div>" +
            "<div class='card'>CPU used<b>" + (cpu - free).toFixed(1) + " / " + cpu + "</b></div>" +
            "<div class='card'>Actors alive<b>" + s.actors.filter(a => a.state === "ALIVE").length + "</b></div>" +
            "<div class='card'>Running tasks<b>" + (counts.RUNNING || 0) + "</b></div>" +
            "<div class='card'>Object store<b>" + (bytes / 1048576).toFixed(1) + " MiB</b>" + s.objects.length + " objects</div></div>" +
            "<div class='cards'>" + chart(throughput(h), "perSecond", "tasks finished per second") + chart(h, "runningTasks", "running tasks") +
            chart(h, "cpuUsed", "CPUs in use") + chart(h, "objectBytes", "object bytes") + "</div>" +
            "<h3>Nodes</h3>" + table(s.nodes, ["nodeID", "address", "alive", "isHead", "total", "available", "storedObjects", "storedBytes"]) +
            "<h3>Placement groups</h3>" + table(s.placementGroups, ["placementGroupID", "strategy", "state", "bundles", "bundleNodes"]);
        } else if (tab === "jobs") {
          const jobs = s.jobs.map(j => Object.assign({}, j, {startedAt: when(j.startedAt), endedAt: when(j.endedAt)}));
          main.innerHTML = table(jobs, ["jobID", "type", "driverPID", "status", "binary", "startedAt", "endedAt"]);
        } else if (tab === "tasks") {
          const counts = {}; s.tasks.forEach(t => counts[t.state] = (counts[t.state] || 0) + 1);
          const rows = s.tasks.filter(t => !filter || JSON.stringify(t).includes(filter)).slice(-500).reverse();
          main.innerHTML = "<div class='cards'>" + Object.keys(counts).map(k => "<div class='card'>" + esc(k) + "<b>" + counts[k] + "</b></div>").join("") + "</div>" +
            "<input id='filter' placeholder='filter' value='" + esc(filter) + "' oninput='filter=this.value;refresh()'>" +
            table(rows, ["taskID", "name", "state", "type", "nodeID", "workerPID", "attempt", "error"]);
        } else if (tab === "tune") {
          main.innerHTML = tune(s.experiments);
        } else if (tab === "serve") {
          main.innerHTML = serve(s.serve);
        } else if (tab === "data") {
          main.innerHTML = data(s.datasets);
        } else if (tab === "actors") {
          main.innerHTML = table(s.actors, ["actorID", "className", "name", "state", "nodeID", "pid", "restarts", "deathCause"]);
        } else {
          const workers = s.workers.filter(w => w.kind !== "driver");
          if (!logPid && workers.length) logPid = workers[0].pid;
          const log = logPid ? await get("/api/logs", "pid=" + logPid + "&tail=200") : {text: ""};
          main.innerHTML = "<p>Each worker's output (also printed by its driver, prefixed <code>(name pid=N)</code>). Worker: " +
            "<select onchange='logPid=this.value;refresh()'>" + workers.map(w => "<option value='" + w.pid + "'" + (String(w.pid) === String(logPid) ? " selected" : "") + ">" +
            esc(w.pid + " (" + w.kind + ", " + w.nodeID + ")") + "</option>").join("") + "</select></p>" +
            "<pre id='log' style='background:#fff;padding:10px;max-height:420px;overflow:auto'>" + esc(log.error || log.text || "(no output yet)") + "</pre>" +
            table(s.workers, ["workerID", "pid", "nodeID", "kind", "actorID", "runningTasks", "alive"]);
        }
        document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
      } catch (e) { document.getElementById("updated").textContent = String(e.message || e); }
    }
    nav(); refresh(); setInterval(refresh, 1000);
    </script></body></html>
    """
}
