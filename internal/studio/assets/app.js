// mlflow studio: every page fills #content from the JSON API under /ui/api/.
// Data from the workspace (names, descriptions, values, request paths) is untrusted: it is
// only ever written with textContent or as SVG text nodes, never as HTML.
import dagre from "./vendor/dagre/dagre.esm.js";

const body = document.body;
const content = document.getElementById("content");
const csrf = document.querySelector('meta[name="csrf-token"]').content;
const Chart = window.Chart;
if (Chart) {
  // Screenshots and tests look at the final picture.
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
}

// el builds an element; strings among kids become text nodes.
function el(tag, props, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null) continue;
    if (k === "text") e.textContent = v;
    else if (k === "class") e.className = v;
    else if (k === "on") for (const [ev, f] of Object.entries(v)) e.addEventListener(ev, f);
    else e.setAttribute(k, v);
  }
  for (const kid of kids.flat()) {
    if (kid === undefined || kid === null) continue;
    e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  }
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const kid of kids) e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
  return e;
}

function link(href, text) {
  return el("a", { href, text });
}

function enc(s) {
  return encodeURIComponent(s);
}

async function api(path, opts) {
  const r = await fetch("/ui/api/" + path, Object.assign({ credentials: "same-origin" }, opts || {}));
  const text = await r.text();
  let data;
  try {
    data = JSON.parse(text);
  } catch {
    data = { error: text };
  }
  if (!r.ok) throw new Error((data && data.error) || r.status + " " + r.statusText);
  return data;
}

function post(path, bodyValue) {
  return api(path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: bodyValue === undefined ? "" : JSON.stringify(bodyValue),
  });
}

function fmtDur(ms) {
  if (ms === undefined || ms === null) return "-";
  if (ms < 1000) return Math.round(ms) + " ms";
  const s = ms / 1000;
  if (s < 60) return s.toFixed(1) + " s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m" + String(Math.round(s % 60)).padStart(2, "0") + "s";
  return Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") + "m";
}

function fmtTime(t) {
  if (!t || t.startsWith("0001")) return "-";
  const d = new Date(t);
  return d.toLocaleString(undefined, { hour12: false });
}

function fmtNum(v) {
  if (typeof v !== "number") return v === undefined || v === null ? "-" : String(v);
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 1000 ? v.toFixed(1) : v.toPrecision(4);
}

function badge(state) {
  return el("span", { class: "badge state-" + state, text: state });
}

function section(title, ...kids) {
  return el("section", {}, el("h2", { text: title }), ...kids);
}

function table(headers, rows, cls) {
  return el(
    "table",
    { class: cls || "" },
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { text: h })))),
    el(
      "tbody",
      {},
      rows.map((cells) => el("tr", {}, cells.map((c) => el("td", {}, c instanceof Node ? c : String(c ?? "-"))))),
    ),
  );
}

function empty(text) {
  return el("p", { class: "muted", text });
}

function kv(pairs) {
  return el(
    "dl",
    { class: "kv" },
    pairs.filter((p) => p[1] !== undefined && p[1] !== null && p[1] !== "").flatMap(([k, v]) => [
      el("dt", { text: k }),
      el("dd", {}, v instanceof Node ? v : String(v)),
    ]),
  );
}

// chart draws a Chart.js chart in a fixed-height box.
function chart(config, height) {
  const canvas = el("canvas");
  const box = el("div", { class: "chart", style: "height:" + (height || 220) + "px" }, canvas);
  requestAnimationFrame(() => new Chart(canvas, config));
  return box;
}

function showError(err) {
  content.replaceChildren(el("p", { class: "error", text: String(err.message || err) }));
}

function setTitle(text) {
  document.getElementById("title").textContent = text;
  document.title = text + " · mlflow studio";
}

// ---- runs ----

function runRows(runs) {
  return runs.map((r) => [
    link("/ui/runs/" + enc(r.run_id), r.run_id),
    r.workflow,
    badge(r.status),
    fmtTime(r.started),
    fmtDur(r.duration_ms),
    r.steps,
    r.cached,
    r.trigger,
  ]);
}
const runHeaders = ["Run", "Workflow", "Status", "Started", "Duration", "Steps", "Cached", "Trigger"];

async function pageRuns() {
  const params = new URLSearchParams(location.search);
  const page = Number(params.get("page") || "1");
  const d = await api("runs?page=" + page + "&size=50");
  const pages = Math.max(1, Math.ceil(d.total / d.size));
  const nav = el(
    "div",
    { class: "pager" },
    page > 1 ? link("?page=" + (page - 1), "← newer") : "",
    el("span", { text: ` page ${page} of ${pages} (${d.total} runs) ` }),
    page < pages ? link("?page=" + (page + 1), "older →") : "",
  );
  content.replaceChildren(nav, d.runs.length ? table(runHeaders, runRows(d.runs), "runs") : empty("No runs yet: mlflow run WORKFLOW"));
}

// depth is a step's longest chain of dependencies: unstarted steps are listed in
// dependency order.
function depth(run, name, memo) {
  if (memo[name] !== undefined) return memo[name];
  memo[name] = 0; // a cycle cannot be recorded; this only stops a corrupt record
  const ds = (run.deps || {})[name] || [];
  memo[name] = ds.length ? 1 + Math.max(...ds.map((d) => depth(run, d, memo))) : 0;
  return memo[name];
}

function stepOrder(run) {
  const names = Object.keys(run.steps);
  const memo = {};
  names.sort((a, b) => {
    const sa = run.steps[a].started, sb = run.steps[b].started;
    if (!!sa !== !!sb) return sa ? -1 : 1;
    if (sa && sb && sa !== sb) return sa < sb ? -1 : 1;
    const da = depth(run, a, memo), db = depth(run, b, memo);
    if (da !== db) return da - db;
    return a < b ? -1 : a > b ? 1 : 0;
  });
  return names;
}

// shownState is a step's state as the page shows it. The engine records a started step as
// running within a tenth of a second; while the run goes on, a pending step whose
// dependencies all succeeded is shown as "ready": waiting for a free slot (--parallel), or
// started since the record was last written.
function shownState(run, name) {
  const st = run.steps[name];
  if (run.status !== "running" || st.state !== "pending") return st.state;
  const deps = (run.deps || {})[name] || [];
  return deps.every((d) => run.steps[d] && run.steps[d].state === "succeeded") ? "ready" : "pending";
}

// drawDAG lays out the run's steps with dagre and draws them as SVG. Nodes carry
// data-step and their state as a class, so live updates only change classes.
function drawDAG(run) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 24, ranksep: 56, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  const names = Object.keys(run.steps).sort();
  for (const n of names) g.setNode(n, { width: Math.max(120, 8 * n.length + 24), height: 46 });
  const deps = run.deps || {};
  for (const n of names) for (const d of deps[n] || []) if (run.steps[d]) g.setEdge(d, n);
  dagre.layout(g);
  const gr = g.graph();
  const root = svg("svg", { class: "dag", width: gr.width, height: gr.height, viewBox: `0 0 ${gr.width} ${gr.height}` });
  root.append(
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" },
      svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrowhead" }))),
  );
  for (const e of g.edges()) {
    const pts = g.edge(e).points.map((p) => p.x + "," + p.y).join(" ");
    root.append(svg("polyline", { points: pts, class: "edge", "marker-end": "url(#arrow)" }));
  }
  for (const n of names) {
    const v = g.node(n);
    const st = run.steps[n];
    const state = shownState(run, n);
    const node = svg("g", { class: "node state-" + state, "data-step": n, transform: `translate(${v.x - v.width / 2},${v.y - v.height / 2})` },
      svg("rect", { width: v.width, height: v.height, rx: 6 }),
      svg("text", { x: 10, y: 19, class: "name" }, n),
      svg("text", { x: 10, y: 36, class: "sub" }, st.kind + " · " + state + (st.cached ? " (cached)" : "")));
    node.addEventListener("click", () => selectStep(run.run_id, n));
    root.append(node);
  }
  return root;
}

function updateDAG(run) {
  for (const node of document.querySelectorAll(".dag .node")) {
    const st = run.steps[node.dataset.step];
    if (!st) continue;
    const state = shownState(run, node.dataset.step);
    node.setAttribute("class", "node state-" + state);
    node.querySelector(".sub").textContent = st.kind + " · " + state + (st.cached ? " (cached)" : "");
  }
}

// stepDur is a step's duration; a running step's is the time since it started (the record
// has its duration only once it ends).
function stepDur(run, st) {
  if (st.state === "running" && run.status === "running" && st.started) return Math.max(0, Date.now() - new Date(st.started).getTime());
  return st.duration_ms;
}

function timeline(run) {
  const t0 = new Date(run.started).getTime();
  let end = t0 + (run.duration_ms || 0);
  if (run.status === "running") end = Math.max(end, Date.now());
  for (const st of Object.values(run.steps)) {
    if (st.started) end = Math.max(end, new Date(st.started).getTime() + (stepDur(run, st) || 0));
  }
  const span = Math.max(end - t0, 1);
  const rows = stepOrder(run).map((n) => {
    const st = run.steps[n];
    const dur = stepDur(run, st);
    const bar = el("div", { class: "bar state-" + shownState(run, n), title: n + ": " + fmtDur(dur) });
    if (st.started) {
      const left = ((new Date(st.started).getTime() - t0) / span) * 100;
      bar.style.left = Math.max(0, left) + "%";
      bar.style.width = Math.max(0.4, ((dur || 0) / span) * 100) + "%";
    } else {
      bar.style.display = "none";
    }
    return el("div", { class: "tl-row" }, el("span", { class: "tl-name", text: n }), el("div", { class: "tl-track" }, bar),
      el("span", { class: "tl-dur", text: st.started ? fmtDur(dur) + (st.state === "running" ? " so far" : "") : shownState(run, n) }));
  });
  return el("div", { class: "timeline" }, rows);
}

function stepTable(run) {
  return table(
    ["Step", "Kind", "State", "Cached", "Started", "Duration", "Error"],
    stepOrder(run).map((n) => {
      const st = run.steps[n];
      return [
        el("a", { href: "#step-" + n, text: n, on: { click: (e) => { e.preventDefault(); selectStep(run.run_id, n); } } }),
        st.kind, badge(shownState(run, n)), st.cached ? "yes" : "no", fmtTime(st.started), fmtDur(stepDur(run, st)), (st.error || "").split("\n")[0],
      ];
    }),
    "steps",
  );
}

let currentRun = null;
let selected = null; // the step whose detail is shown
let logPoll = null; // the timer of its live log

// logKeep bounds the log text a page holds, as the server bounds what it sends.
const logKeep = 64 * 1024;
const logEvery = 1000;

async function selectStep(runID, name) {
  clearTimeout(logPoll);
  selected = name;
  const box = document.getElementById("step-detail");
  const st = currentRun.steps[name];
  const parts = [el("h2", { text: "Step " + name })];
  parts.push(kv([["kind", st.kind], ["state", badge(st.state)], ["attempts", st.attempts], ["cache key", st.cache_key], ["error", st.error]]));
  if (st.outputs && Object.keys(st.outputs).length) {
    parts.push(el("h3", { text: "Outputs" }), el("pre", { class: "outputs", text: JSON.stringify(st.outputs, null, 2) }));
    const rep = st.outputs.report;
    if (rep && typeof rep === "object" && rep.histogram) {
      parts.push(el("h3", { text: "Latency histogram" }),
        el("img", { class: "histogram", alt: "latency histogram", src: `/ui/api/runs/${enc(runID)}/steps/${enc(name)}/histogram.svg` }));
    }
  }
  const logBox = el("pre", { class: "log", id: "step-log", text: "…" });
  const logTitle = el("h3", { text: "Log" });
  parts.push(logTitle, logBox);
  box.replaceChildren(...parts);
  // A running step's log is read from where the last read ended, every second, until the
  // step ends; then the stored log replaces it.
  let offset = 0, shown = "";
  const poll = async () => {
    let l;
    try {
      l = await api(`runs/${enc(runID)}/steps/${enc(name)}/log` + (offset ? "?offset=" + offset : ""));
    } catch (e) {
      logBox.textContent = String(e.message);
      return;
    }
    if (selected !== name || !logBox.isConnected) return;
    if (!l.live) {
      logTitle.textContent = "Log";
      const none = st.state === "pending" ? "(no log yet: the step has not started)" : "(no log: the step wrote nothing)";
      logBox.textContent = (l.truncated ? "… (earlier lines cut)\n" : "") + (l.log || none);
      return;
    }
    logTitle.textContent = "Log (live)";
    if (l.reset) shown = "";
    if (l.truncated) shown += shown ? "\n… (lines cut)\n" : "… (earlier lines cut)\n";
    shown += l.log;
    if (shown.length > logKeep) shown = "… (earlier lines cut)\n" + shown.slice(-logKeep);
    offset = l.offset;
    const atEnd = logBox.scrollTop + logBox.clientHeight >= logBox.scrollHeight - 4;
    logBox.textContent = shown || "(nothing logged yet)";
    if (atEnd) logBox.scrollTop = logBox.scrollHeight;
    logPoll = setTimeout(poll, logEvery);
  };
  await poll();
}

function runHeader(run) {
  return kv([
    ["status", badge(run.status)],
    ["workflow", run.workflow + (run.file ? " (" + run.file + ")" : "")],
    ["trigger", run.trigger],
    ["started", fmtTime(run.started)],
    ["duration", run.status === "running" ? fmtDur(Date.now() - new Date(run.started).getTime()) + " so far" : fmtDur(run.duration_ms)],
    ["params", run.params ? JSON.stringify(run.params) : ""],
    ["error", run.error],
  ]);
}

async function pageRun() {
  const id = body.dataset.id;
  let run = await api("runs/" + enc(id));
  currentRun = run;
  setTitle("Run " + run.run_id);
  const header = el("div", { id: "run-header" }, runHeader(run));
  const dag = el("div", { class: "dag-box" }, drawDAG(run));
  const tl = el("div", { id: "timeline" }, timeline(run));
  const steps = el("div", { id: "steps" }, stepTable(run));
  content.replaceChildren(header, section("Graph", dag), section("Timeline", tl), section("Steps", steps), el("div", { id: "step-detail" }));
  if (run.status !== "running" && run.status !== "pending") return;
  const es = new EventSource(`/ui/api/runs/${enc(run.run_id)}/events`);
  es.addEventListener("run", (ev) => {
    const before = selected && run.steps[selected] ? run.steps[selected].state : null;
    run = JSON.parse(ev.data);
    currentRun = run;
    // The detail follows its step: a finished step shows its outputs and stored log.
    if (selected && run.steps[selected] && run.steps[selected].state !== before) selectStep(run.run_id, selected);
    updateDAG(run);
    header.replaceChildren(runHeader(run));
    tl.replaceChildren(timeline(run));
    steps.replaceChildren(stepTable(run));
  });
  // The clock moves between records: elapsed times are redrawn every second.
  const tick = setInterval(() => {
    header.replaceChildren(runHeader(run));
    tl.replaceChildren(timeline(run));
    steps.replaceChildren(stepTable(run));
  }, 1000);
  es.addEventListener("end", () => {
    es.close();
    clearInterval(tick);
  });
}

// ---- datasets ----

async function pageDatasets() {
  const ds = await api("datasets");
  content.replaceChildren(
    ds.length
      ? table(["Dataset", "Version", "Rows", "Columns", "Target", "Created", "Description"],
        ds.map((d) => [link(`/ui/datasets/${enc(d.name)}/${d.version}`, d.name), d.version, d.rows, d.columns, d.target, fmtTime(d.created), d.description]), "datasets")
      : empty("No datasets yet: a workflow's dataset step registers one."),
  );
}

// pageDatasetCompare shows two versions of a dataset side by side: rows, and per column the
// missing values, the mean (numeric) or the most frequent category, with what changed.
async function pageDatasetCompare() {
  const name = body.dataset.name;
  const q = new URLSearchParams(location.search);
  const qs = new URLSearchParams();
  for (const k of ["a", "b"]) if (q.get(k)) qs.set(k, q.get(k));
  const d = await api(`datasets/${enc(name)}` + (qs.size ? "?" + qs : ""));
  const a = d.a, b = d.b;
  setTitle(`Dataset ${name}: version ${a.version} and ${b.version}`);
  const picker = (param, cur) => {
    const s = el("select", { name: param, id: "pick-" + param, on: { change: () => {
      const p = new URLSearchParams(location.search);
      p.set(param, s.value);
      location.search = p.toString();
    } } }, d.versions.map((v) => el("option", { value: String(v.version), text: "version " + v.version + " (" + v.rows + " rows)" })));
    s.value = String(cur);
    return s;
  };
  const pct = (n, rows) => (rows ? (100 * n / rows).toFixed(1) + "%" : "-");
  const signed = (v, unit) => (v === undefined || v === null ? "" : (v > 0 ? "+" : "") + v.toFixed(2) + unit);
  const changed = (txt, big) => el("span", { class: big ? "change big" : "change", text: txt });
  const rows = d.columns.map((c) => {
    const x = c.a, y = c.b;
    const side = (p, rows) => {
      if (!p) return el("span", { class: "muted", text: "(no such column)" });
      const fig = [p.type, "missing " + p.missing + " (" + pct(p.missing, rows) + ")"];
      if (p.mean !== undefined) fig.push("mean " + fmtNum(p.mean));
      if (p.top && p.top.length) fig.push("top " + p.top[0].value + " (" + (100 * p.top[0].fraction).toFixed(0) + "%)");
      return el("span", { text: fig.join(" · ") });
    };
    const notes = [];
    if (!x) notes.push(changed("added", true));
    if (!y) notes.push(changed("removed", true));
    if (x && y && x.type !== y.type) notes.push(changed("type " + x.type + " → " + y.type, true));
    if (c.missing_delta !== undefined && Math.abs(c.missing_delta) >= 0.05) notes.push(changed("missing " + signed(c.missing_delta, " pts"), Math.abs(c.missing_delta) >= 5));
    if (c.mean_delta_sd !== undefined && Math.abs(c.mean_delta_sd) >= 0.005) notes.push(changed("mean " + signed(c.mean_delta_sd, " sd"), Math.abs(c.mean_delta_sd) >= 0.25));
    if (c.top_changed) notes.push(changed("top " + x.top[0].value + " → " + y.top[0].value, true));
    return el("tr", { "data-column": c.name }, el("td", { text: c.name }), el("td", {}, side(x, a.rows)), el("td", {}, side(y, b.rows)),
      el("td", {}, notes.length ? notes : el("span", { class: "muted", text: "same" })));
  });
  const rowsDelta = b.rows - a.rows;
  content.replaceChildren(
    el("p", { class: "pickers" }, "Compare ", picker("a", a.version), " with ", picker("b", b.version)),
    kv([["rows", a.rows + " → " + b.rows + (rowsDelta ? " (" + (rowsDelta > 0 ? "+" : "") + rowsDelta + ")" : " (same)")],
      ["columns", a.columns + " → " + b.columns], ["digest", a.digest.slice(0, 12) + " → " + b.digest.slice(0, 12) + (a.digest === b.digest ? " (same content)" : "")],
      ["versions", el("span", {}, link(`/ui/datasets/${enc(name)}/${a.version}`, "version " + a.version), " · ", link(`/ui/datasets/${enc(name)}/${b.version}`, "version " + b.version))]]),
    section("Columns", el("table", { class: "compare" },
      el("thead", {}, el("tr", {}, ["Column", "Version " + a.version, "Version " + b.version, "Change"].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows))),
  );
}

async function pageDataset() {
  const d = await api(`datasets/${enc(body.dataset.name)}/${enc(body.dataset.version)}`);
  const ds = d.dataset, p = ds.profile || { columns: [] };
  setTitle(`Dataset ${ds.name}:${ds.version}`);
  const parts = [kv([["rows", ds.rows], ["columns", ds.columns], ["target", ds.target], ["source", ds.source], ["digest", ds.digest],
    ["created", fmtTime(ds.created)], ["run", ds.run_id ? link("/ui/runs/" + enc(ds.run_id), ds.run_id) : ""], ["description", ds.description]])];
  parts.push(section("Versions",
    table(["Version", "Rows", "Columns", "Digest", "Created"], d.versions.map((v) => [
      v.version === ds.version ? el("strong", { text: String(v.version) }) : link(`/ui/datasets/${enc(v.name)}/${v.version}`, String(v.version)),
      v.rows, v.columns, v.digest.slice(0, 12), fmtTime(v.created)]), "versions"),
    d.versions.length > 1 ? el("p", {}, link(`/ui/datasets/${enc(ds.name)}?a=${d.versions[d.versions.length - 2].version}&b=${d.versions[d.versions.length - 1].version}`, "Compare versions side by side")) : "",
  ));
  if (p.class_balance && p.class_balance.length) {
    parts.push(section("Target balance (" + p.target + ")", chart({
      type: "bar",
      data: { labels: p.class_balance.map((c) => c.value), datasets: [{ label: "rows", data: p.class_balance.map((c) => c.count) }] },
      options: { indexAxis: "y", plugins: { legend: { display: false } } },
    }, 60 + 28 * p.class_balance.length)));
  }
  const missing = p.columns.reduce((n, c) => n + c.missing, 0);
  parts.push(section("Missing values", missing === 0 ? empty("No column has a missing value.") : chart({
    type: "bar",
    data: { labels: p.columns.map((c) => c.name), datasets: [{ label: "missing", data: p.columns.map((c) => c.missing) }] },
    options: { plugins: { legend: { display: false } } },
  }, 200)));
  const hist = Object.fromEntries((d.histograms || []).map((h) => [h.column, h]));
  const cards = p.columns.map((c) => {
    const figures = [["type", c.type + (c.integer ? " (integer)" : "")], ["present", c.count], ["missing", c.missing], ["distinct", c.distinct]];
    if (c.type === "numeric") figures.push(["min", fmtNum(c.min)], ["median", fmtNum(c.p50)], ["mean", fmtNum(c.mean)], ["max", fmtNum(c.max)]);
    const stats = kv(figures);
    let pic;
    const h = hist[c.name];
    if (h) {
      pic = chart({
        type: "bar",
        data: { labels: h.counts.map((_, i) => fmtNum(h.edges[i])), datasets: [{ label: c.name, data: h.counts, barPercentage: 1, categoryPercentage: 1 }] },
        options: { plugins: { legend: { display: false } } },
      }, 160);
    } else if (c.top && c.top.length) {
      pic = chart({
        type: "bar",
        data: { labels: c.top.map((t) => t.value), datasets: [{ label: c.name, data: c.top.map((t) => t.count) }] },
        options: { indexAxis: "y", plugins: { legend: { display: false } } },
      }, 40 + 18 * c.top.length);
    }
    return el("div", { class: "card column", "data-column": c.name }, el("h3", { text: c.name }), stats, pic || "");
  });
  parts.push(section("Columns", el("div", { class: "cards" }, cards)));
  content.replaceChildren(...parts);
}

// ---- models ----

async function pageModels() {
  const ms = await api("models");
  content.replaceChildren(
    ms.length
      ? table(["Model", "Version", "Task", "Algorithm", "Primary metric", "Score", "Created"],
        ms.map((m) => [link(`/ui/models/${enc(m.name)}/${m.version}`, m.name), m.version, m.task, m.algorithm, m.meta.primary_metric,
          fmtNum((m.meta.metrics || {})[m.meta.primary_metric]), fmtTime(m.created)]), "models")
      : empty("No models yet: a workflow's automl step trains one."),
  );
}

async function pageModel() {
  const m = await api(`models/${enc(body.dataset.name)}/${enc(body.dataset.version)}`);
  setTitle(`Model ${m.name}:${m.version}`);
  const meta = m.meta, pm = meta.primary_metric;
  const lin = meta.lineage || {};
  const dsRef = lin.dataset || {};
  const parts = [kv([["task", m.task], ["algorithm", m.algorithm], ["primary metric", pm ? pm + " = " + fmtNum((meta.metrics || {})[pm]) : ""],
    ["digest", m.digest], ["created", fmtTime(m.created)]])];
  parts.push(section("Lineage", kv([
    ["dataset", dsRef.name ? link(`/ui/datasets/${enc(dsRef.name)}/${dsRef.version}`, dsRef.name + ":" + dsRef.version) : ""],
    ["run", meta.run ? link("/ui/runs/" + enc(meta.run), meta.run) : ""],
    ["seed", lin.seed],
    ["settings", lin.config ? JSON.stringify(lin.config) : ""],
  ])));
  const metrics = Object.keys(meta.metrics || {}).sort();
  const mgrid = kv(metrics.map((k) => [k, fmtNum(meta.metrics[k])]));
  mgrid.classList.add("metrics");
  parts.push(section("Metrics (out of fold)", metrics.length ? mgrid : empty("No metrics recorded.")));
  const lb = meta.leaderboard || [];
  if (lb.length) {
    let t = 0, best = null;
    const pts = [], bestPts = [];
    const higher = !/(error|loss|log_loss|rmse|mae|mse)/i.test(pm || "");
    // The leaderboard is ranked by score; the chart follows the search, in trial order.
    for (const e of lb.slice().sort((a, b) => a.id - b.id)) {
      t += e.seconds || 0;
      const v = (e.metrics || {})[pm];
      if (typeof v !== "number") continue;
      pts.push({ x: t, y: v });
      if (best === null || (higher ? v > best : v < best)) best = v;
      bestPts.push({ x: t, y: best });
    }
    parts.push(section("Score over time", chart({
      type: "line",
      data: { datasets: [
        { label: pm + " per trial", data: pts, showLine: false, pointRadius: 3 },
        { label: "best so far", data: bestPts, stepped: true, pointRadius: 0 },
      ] },
      options: { parsing: false, scales: { x: { type: "linear", title: { display: true, text: "seconds of search" } }, y: { title: { display: true, text: pm } } } },
    }, 240)));
    parts.push(section("Leaderboard (" + lb.length + " trials)", table(["Trial", "Algorithm", "Settings", pm || "score", "Folds", "Time"],
      lb.map((e) => [e.id, e.algorithm, JSON.stringify(e.params || {}), fmtNum((e.metrics || {})[pm]), e.folds, fmtDur((e.seconds || 0) * 1000)]), "leaderboard")));
  }
  const imp = (meta.importance || []).slice(0, 25);
  if (imp.length) {
    parts.push(section("Feature importance", chart({
      type: "bar",
      data: { labels: imp.map((i) => i.feature), datasets: [{ label: "gain", data: imp.map((i) => i.gain) }] },
      options: { indexAxis: "y", plugins: { legend: { display: false } } },
    }, 40 + 20 * imp.length)));
  }
  parts.push(modelCharts(m));
  if (meta.warnings && meta.warnings.length) parts.push(section("Warnings", el("ul", {}, meta.warnings.map((w) => el("li", { text: w })))));
  content.replaceChildren(...parts);
}

// Axes from 0 to 1 with titles, for the curves.
function unitAxes(x, y) {
  return {
    x: { type: "linear", min: 0, max: 1, title: { display: true, text: x } },
    y: { type: "linear", min: 0, max: 1.02, title: { display: true, text: y } },
  };
}

const diagonal = (label) => ({ label, data: [{ x: 0, y: 0 }, { x: 1, y: 1 }], borderDash: [5, 4], borderColor: "#9aa3b2", borderWidth: 1, pointRadius: 0, showLine: true });

// One colour per class, the same in every chart of the page. Chart.js colours datasets
// itself only when none has a colour, and the reference lines have theirs.
const palette = ["#1f77d0", "#e08a1e", "#1e9e5a", "#d23c3c", "#8a4fd0", "#17a2b8", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22"];
const colour = (i) => ({ borderColor: palette[i % palette.length], backgroundColor: palette[i % palette.length] });

function curveSets(curves, areaName) {
  return curves.map((c, i) => Object.assign({
    label: c.class + " (" + areaName + " " + fmtNum(c.area) + ")",
    data: c.x.map((x, j) => ({ x, y: c.y[j] })),
    showLine: true, pointRadius: 0, borderWidth: 2,
  }, colour(i)));
}

const short = new Intl.NumberFormat("en", { maximumSignificantDigits: 3 });

function card(title, id, ...kids) {
  return el("div", { class: "card", "data-chart": id }, el("h3", { text: title }), ...kids);
}

// confusionTable shades each cell by its share of the true class's rows.
function confusionTable(classes, m) {
  const head = el("tr", {}, el("th", { text: "true \\ predicted" }), classes.map((c) => el("th", { text: c })));
  const rows = m.map((row, i) => {
    const total = row.reduce((a, b) => a + b, 0) || 1;
    return el("tr", {}, el("th", { text: classes[i] }), row.map((n, j) => {
      const share = n / total;
      const td = el("td", { class: i === j ? "diag" : "", title: (100 * share).toFixed(1) + "% of " + classes[i] },
        el("strong", { text: String(n) }), el("span", { class: "muted", text: " " + (100 * share).toFixed(0) + "%" }));
      td.style.background = `rgba(${i === j ? "30,158,90" : "210,60,60"},${(0.08 + 0.6 * share).toFixed(3)})`;
      return td;
    }));
  });
  return el("table", { class: "confusion" }, el("thead", {}, head), el("tbody", {}, rows));
}

// modelCharts draws Azure AutoML's model charts from the diagnostics kept in the artifact
// (computed from out-of-fold predictions when the model was trained).
function modelCharts(m) {
  const d = m.diagnostics;
  if (!d) {
    const why = m.diagnostics_error
      ? "The charts could not be read: " + m.diagnostics_error
      : "No charts: this model was trained before mlflow kept the charts of its out-of-fold predictions. Train it again to see them.";
    return section("Model charts", el("p", { id: "no-diagnostics", class: "muted", text: why }));
  }
  const cards = [];
  if (d.task === "classification") {
    if (d.roc && d.roc.length) {
      cards.push(card("ROC", "roc", chart({ type: "scatter", data: { datasets: [...curveSets(d.roc, "AUC"), diagonal("chance")] },
        options: { parsing: false, scales: unitAxes("false positive rate", "true positive rate") } }, 300)));
    }
    if (d.pr && d.pr.length) {
      cards.push(card("Precision-recall", "pr", chart({ type: "scatter", data: { datasets: curveSets(d.pr, "AP") },
        options: { parsing: false, scales: unitAxes("recall", "precision") } }, 300)));
    }
    if (d.calibration && d.calibration.length) {
      const sets = d.calibration.map((c, i) => Object.assign({
        label: c.class, data: c.bins.map((b) => ({ x: b.predicted, y: b.observed, n: b.count })), showLine: true, pointRadius: 3,
      }, colour(i)));
      cards.push(card("Calibration", "calibration", chart({ type: "scatter", data: { datasets: [...sets, diagonal("perfectly calibrated")] },
        options: { parsing: false, scales: unitAxes("mean predicted probability", "observed rate"),
          plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: predicted ${fmtNum(c.raw.x)}, observed ${fmtNum(c.raw.y)}` + (c.raw.n ? ` (${c.raw.n} rows)` : "") } } } } }, 300)));
    }
    if (d.confusion) cards.push(card("Confusion matrix (" + d.rows + " rows, out of fold)", "confusion", confusionTable(d.classes, d.confusion)));
  } else {
    if (d.scatter) {
      const pts = d.scatter.actual.map((a, i) => ({ x: a, y: d.scatter.predicted[i] }));
      const all = d.scatter.actual.concat(d.scatter.predicted);
      const lo = Math.min(...all), hi = Math.max(...all);
      const binned = (d.binned || []).map((b) => ({ x: b.actual, y: b.predicted }));
      cards.push(card("Predicted vs actual (" + pts.length + " of " + d.rows + " rows)", "predicted", chart({ type: "scatter", data: { datasets: [
        { label: "rows", data: pts, pointRadius: 2, backgroundColor: "rgba(31,119,208,0.35)", borderColor: "rgba(31,119,208,0.35)" },
        { label: "mean per bin", data: binned, showLine: true, pointRadius: 3, borderColor: "#e08a1e", backgroundColor: "#e08a1e" },
        { label: "ideal", data: [{ x: lo, y: lo }, { x: hi, y: hi }], showLine: true, pointRadius: 0, borderDash: [5, 4], borderColor: "#9aa3b2", borderWidth: 1 },
      ] }, options: { parsing: false, scales: { x: { title: { display: true, text: "actual" } }, y: { title: { display: true, text: "predicted" } } } } }, 320)));
    }
    if (d.residuals) {
      const r = d.residuals;
      cards.push(card("Residuals (actual − predicted)", "residuals", chart({ type: "bar",
        data: { labels: r.counts.map((_, i) => short.format((r.edges[i] + r.edges[i + 1]) / 2)), datasets: [{ label: "rows", data: r.counts, barPercentage: 1, categoryPercentage: 1 }] },
        options: { plugins: { legend: { display: false } }, scales: { x: { title: { display: true, text: "residual" } }, y: { title: { display: true, text: "rows" } } } } }, 320)));
    }
  }
  return section("Model charts (out of fold)", el("div", { class: "cards wide" }, cards));
}

// ---- endpoints ----

async function pageEndpoints() {
  const eps = await api("endpoints");
  content.replaceChildren(
    eps.length
      ? table(["Endpoint", "Model", "State", "Auth", "Updated"], eps.map((e) => [link("/ui/endpoints/" + enc(e.name), e.name),
        e.model.name + (e.model.version ? ":" + e.model.version : ""), badge(e.state), e.auth, fmtTime(e.updated)]), "endpoints")
      : empty("No endpoints yet: a workflow's deploy step creates one."),
  );
}

async function pageEndpoint() {
  const e = await api("endpoints/" + enc(body.dataset.name));
  setTitle("Endpoint " + e.name);
  const model = e.model.name + (e.model.version ? ":" + e.model.version : "");
  const parts = [kv([
    ["state", badge(e.state)],
    ["model", e.model.version ? link(`/ui/models/${enc(e.model.name)}/${e.model.version}`, model) : model],
    ["scoring URI", el("code", { id: "scoring-uri", text: e.scoring_uri })],
    ["Swagger URI", el("code", { text: e.swagger_uri })],
    ["API docs", link(e.docs_uri, "Swagger UI")],
    ["auth", e.auth],
    ["description", e.description],
    ["updated", fmtTime(e.updated)],
  ])];
  if (e.auth === "key") {
    const keyBox = el("code", { id: "key", class: "muted", text: "hidden" });
    const btn = el("button", { id: "reveal", text: "Reveal key", on: { click: async () => {
      try {
        const k = await post(`endpoints/${enc(e.name)}/key`);
        keyBox.textContent = k.primary;
        keyBox.className = "";
        btn.disabled = true;
      } catch (err) {
        keyBox.textContent = err.message;
      }
    } } });
    const regen = (which) => el("button", { id: "regenerate-" + which, class: "secondary", text: "Regenerate " + which, on: { click: async () => {
      try {
        await post(`endpoints/${enc(e.name)}/regenerate?which=${which}`);
        keyBox.textContent = which + " key regenerated: reveal to see the primary";
        keyBox.className = "muted";
        btn.disabled = false;
      } catch (err) {
        keyBox.textContent = err.message;
      }
    } } });
    parts.push(section("Key", el("p", {}, keyBox, " ", btn, " ", regen("primary"), " ", regen("secondary"))));
  }
  if (e.state === "running") {
    const stop = el("button", { id: "stop", class: "danger", text: "Stop endpoint", on: { click: async () => {
      if (!confirm("Stop endpoint " + e.name + "? It answers 503 until it is deployed again.")) return;
      try {
        await post(`endpoints/${enc(e.name)}/stop`);
        location.reload();
      } catch (err) {
        showError(err);
      }
    } } });
    parts.push(el("p", {}, stop));
  }
  // The scoring form: one record, pre-filled with a typical value per column.
  const inputs = (e.example || []).map((f) => {
    const inp = el("input", { name: f.name, value: String(f.value), "data-kind": typeof f.value });
    return el("label", {}, el("span", { text: f.name }), inp);
  });
  const answer = el("pre", { id: "score-answer", class: "outputs", text: "" });
  const form = el("form", { id: "score-form", class: "score", on: { submit: async (ev) => {
    ev.preventDefault();
    const rec = {};
    for (const inp of form.querySelectorAll("input")) {
      const kind = inp.dataset.kind;
      rec[inp.name] = kind === "number" ? Number(inp.value) : kind === "boolean" ? inp.value === "true" : inp.value;
    }
    answer.textContent = "…";
    try {
      const a = await post(`endpoints/${enc(e.name)}/score`, { data: [rec] });
      answer.textContent = a.status + "\n" + a.body;
    } catch (err) {
      answer.textContent = err.message;
    }
  } } }, el("div", { class: "fields" }, inputs), el("button", { type: "submit", text: "Score" }));
  parts.push(section("Test", inputs.length ? form : empty("No example: the model's training dataset has no profile."), answer));
  const s = e.series || [];
  if (s.length) {
    const labels = s.map((m) => new Date(m.minute).toLocaleTimeString(undefined, { hour12: false, hour: "2-digit", minute: "2-digit" }));
    const codes = [...new Set(s.flatMap((m) => Object.keys(m.status)))].sort();
    parts.push(section("Requests per minute", chart({ type: "bar", data: { labels, datasets: codes.map((c) => ({ label: c, data: s.map((m) => m.status[c] || 0) })) },
      options: { scales: { x: { stacked: true }, y: { stacked: true } } } }, 200)));
    parts.push(section("Latency (ms)", chart({ type: "line", data: { labels, datasets: [
      { label: "p50", data: s.map((m) => m.p50_ms) }, { label: "p99", data: s.map((m) => m.p99_ms) }] } }, 200)));
  }
  parts.push(section("Request log (" + e.summary.count + " requests, p50 " + fmtNum(e.summary.p50_ms) + " ms, p99 " + fmtNum(e.summary.p99_ms) + " ms)",
    e.tail.length ? table(["Time", "Method", "Path", "Protocol", "Status", "Duration", "Rows", "Auth", "Error"],
      e.tail.slice().reverse().map((t) => [fmtTime(t.time), t.method, t.path, t.protocol, t.status, fmtNum(t.duration_ms) + " ms", t.rows, t.auth, t.error]), "reqlog")
      : empty("No requests yet.")));
  content.replaceChildren(...parts);
}

// ---- pipelines ----

async function pagePipelines() {
  const ps = await api("pipelines");
  content.replaceChildren(
    ps.length
      ? table(["Pipeline", "Version", "Schedule", "Disabled", "Next run", "Updated"], ps.map((p) => [link("/ui/pipelines/" + enc(p.name), p.name), p.version,
        JSON.stringify(p.schedule || null), p.disabled ? "yes" : "no", fmtTime(p.next_fire_at), fmtTime(p.updated)]), "pipelines")
      : empty("No pipelines yet: a workflow's publish step publishes one."),
  );
}

async function pagePipeline() {
  const name = body.dataset.name;
  const d = await api("pipelines/" + enc(name));
  const p = d.pipeline;
  setTitle("Pipeline " + p.name);
  const info = el("div", { id: "pipeline-info" });
  const showInfo = (p) => info.replaceChildren(kv([
    ["state", badge(p.disabled ? "disabled" : "enabled")], ["version", p.version], ["workflow", p.workflow], ["auth", p.auth],
    ["schedule", p.schedule ? JSON.stringify(p.schedule) : "none"], ["concurrency", p.concurrency],
    ["next run", fmtTime(p.next_fire_at)], ["last fired", fmtTime(p.last_fired_at)], ["description", p.description], ["updated", fmtTime(p.updated)]]));
  showInfo(p);
  const toggle = el("button", { id: "toggle", text: p.disabled ? "Enable" : "Disable", on: { click: async () => {
    try {
      const np = await post(`pipelines/${enc(name)}/${toggle.textContent === "Enable" ? "enable" : "disable"}`);
      toggle.textContent = np.disabled ? "Enable" : "Disable";
      showInfo(np);
    } catch (err) {
      showError(err);
    }
  } } });
  // The trigger form: one typed input per parameter, its default filled in.
  const fields = (p.params || []).map((prm) => {
    const attrs = { name: prm.name, "data-type": prm.type };
    if (prm.type === "boolean") {
      attrs.type = "checkbox";
      if (prm.default) attrs.checked = "";
    } else {
      attrs.type = prm.type === "integer" || prm.type === "number" ? "number" : "text";
      if (prm.type === "number") attrs.step = "any";
      attrs.value = prm.default === undefined || prm.default === null ? "" : String(prm.default);
    }
    return el("label", {}, el("span", { text: prm.name + " (" + prm.type + ")" }), el("input", attrs));
  });
  const answer = el("pre", { id: "trigger-answer", class: "outputs", text: "" });
  const runsBox = el("div", { id: "pipeline-runs" });
  const showRuns = (runs) => runsBox.replaceChildren(runs.length ? table(["Run", "Status", "Trigger", "Created", "Started", "Finished", "Error"],
    runs.map((r) => [link("/ui/runs/" + enc(r.run_id), r.run_id), badge(r.state), r.trigger, fmtTime(r.created), fmtTime(r.started), fmtTime(r.finished), r.error]), "runs")
    : empty("No runs yet."));
  showRuns(d.runs);
  const form = el("form", { id: "trigger-form", class: "score", on: { submit: async (ev) => {
    ev.preventDefault();
    const params = {};
    for (const inp of form.querySelectorAll("input")) {
      const t = inp.dataset.type;
      params[inp.name] = t === "boolean" ? inp.checked : t === "integer" || t === "number" ? Number(inp.value) : inp.value;
    }
    answer.textContent = "…";
    try {
      const a = await post(`pipelines/${enc(name)}/runs`, { parameters: params });
      // The list first: the answer is the sign that the page is up to date.
      showRuns((await api("pipelines/" + enc(name))).runs);
      answer.textContent = a.status + "\n" + a.body;
    } catch (err) {
      answer.textContent = err.message;
    }
  } } }, el("div", { class: "fields" }, fields), el("button", { type: "submit", text: "Trigger a run" }));
  content.replaceChildren(info, el("p", {}, toggle), section("Trigger", form, answer), section("Runs", runsBox));
}

// ---- overview ----

async function pageOverview() {
  const d = await api("overview");
  const count = (n, label, href) => el("a", { class: "count", href }, el("strong", { text: String(n) }), el("span", { text: label }));
  content.replaceChildren(
    el("div", { class: "counts" }, count(d.total_runs, "runs", "/ui/runs"), count(d.datasets.length, "dataset versions", "/ui/datasets"),
      count(d.models.length, "models", "/ui/models"), count(d.endpoints.length, "endpoints", "/ui/endpoints"), count(d.pipelines.length, "pipelines", "/ui/pipelines")),
    section("Latest runs", d.runs.length ? table(runHeaders, runRows(d.runs), "runs") : empty("No runs yet: mlflow run WORKFLOW")),
    section("Endpoints", d.endpoints.length ? table(["Endpoint", "Model", "State", "Auth"], d.endpoints.map((e) => [link("/ui/endpoints/" + enc(e.name), e.name),
      e.model.name + (e.model.version ? ":" + e.model.version : ""), badge(e.state), e.auth]), "endpoints") : empty("No endpoints.")),
    section("Models", d.models.length ? table(["Model", "Latest", "Task", "Algorithm", "Score"], d.models.map((m) => [link(`/ui/models/${enc(m.name)}/${m.version}`, m.name),
      m.version, m.task, m.algorithm, (m.meta.primary_metric || "") + " " + fmtNum((m.meta.metrics || {})[m.meta.primary_metric])]), "models") : empty("No models.")),
    section("Pipelines", d.pipelines.length ? table(["Pipeline", "Version", "Disabled"], d.pipelines.map((p) => [link("/ui/pipelines/" + enc(p.name), p.name), p.version,
      p.disabled ? "yes" : "no"]), "pipelines") : empty("No pipelines.")),
  );
}

const pages = {
  overview: pageOverview, runs: pageRuns, run: pageRun, datasets: pageDatasets, dataset: pageDataset, "dataset-compare": pageDatasetCompare, models: pageModels,
  model: pageModel, endpoints: pageEndpoints, endpoint: pageEndpoint, pipelines: pagePipelines, pipeline: pagePipeline,
};

(pages[body.dataset.page] || (async () => showError("unknown page")))()
  .then(() => body.setAttribute("data-loaded", "true"))
  .catch((err) => {
    showError(err);
    body.setAttribute("data-loaded", "error");
  });
