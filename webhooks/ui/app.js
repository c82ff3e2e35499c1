// gitflows web UI: a hash-routed single page. This file is plain JavaScript (no build step);
// the flow editor, the Gantt chart and the run form come from the bundle dist/editor.js
// (window.gitflowsUI, built from src/ by scripts/build-ui), loaded before this file.
// Every text from the server goes through textContent (h() below): never innerHTML.
"use strict";

const UI = window.gitflowsUI;

const TERMINAL = new Set(["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "SKIPPED"]);
let cleanups = []; // timers and streams of the current page, stopped on navigation

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

async function api(method, path, body, type) {
  const init = { method, headers: UI.headers(method) }; // bearer token, CSRF header
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    init.headers["Content-Type"] = type || "application/json";
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new Error((data && data.message) || `${response.status} ${response.statusText}`);
  return data;
}

function state(name) { return h("span", { class: `state state-${name}` }, name); }
function enc(part) { return encodeURIComponent(part); }
function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }
function secondsBetween(a, b) {
  if (!a) return "";
  const ms = (b ? new Date(b) : new Date()) - new Date(a);
  return `${(ms / 1000).toFixed(1)}s`;
}
function duration(iso) { // ISO 8601 (PT1H2M3.5S) → "1h 2m 3.5s"
  const m = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?$/.exec(iso || "");
  if (!m) return iso || "";
  return [m[1] && `${m[1]}h`, m[2] && `${m[2]}m`, m[3] && `${parseFloat(m[3]).toFixed(m[1] || m[2] ? 0 : 2)}s`]
    .filter(Boolean).join(" ") || "0s";
}
function every(ms, fn) { const t = setInterval(fn, ms); cleanups.push(() => clearInterval(t)); }
function show(...nodes) { document.getElementById("app").replaceChildren(...nodes); }
function failure(err) { return h("p", { class: "error" }, String(err.message || err)); }

// -- flows -------------------------------------------------------------------------------
async function flowsPage() {
  const flows = await api("GET", "/api/v1/flows");
  const rows = flows.map((f) => h("tr", { "data-flow": f.id ? `${f.namespace}.${f.id}` : f.file },
    h("td", {}, f.repo),
    h("td", {}, f.id ? h("a", { href: `#/flows/${enc(f.namespace)}/${enc(f.id)}` }, `${f.namespace}.${f.id}`)
      : h("span", { class: "error" }, "invalid")),
    h("td", {}, h("code", {}, f.file)),
    h("td", {}, h("code", { title: f.commit }, f.commit.slice(0, 10))),
    h("td", {}, f.triggers.map((t) => `${t.id} (${t.type.split(".").pop()})`).join(", ")),
    h("td", { class: "diag-count" }, String(f.diagnostics.length))));
  const repos = {}; // repository → the branch it is served from (the new flow's default)
  for (const f of flows) repos[f.repo] = repos[f.repo] || String(f.ref || "").replace(/^refs\/heads\//, "");
  const creator = h("div", { id: "new-flow-box" });
  const newButton = h("button", { type: "button", id: "new-flow-button", onclick: () => {
    creator.replaceChildren(UI.newFlowForm(repos));
    newButton.hidden = true;
  } }, "New flow");
  show(h("h1", {}, "Flows"), newButton, creator,
    h("table", { id: "flows" },
      h("thead", {}, h("tr", {}, ["Repository", "Flow", "File", "Commit", "Triggers", "Diagnostics"]
        .map((t) => h("th", {}, t)))),
      h("tbody", {}, rows)));
}

// -- one flow: the editor (YAML and graph), save, run form: all from the bundle ------------
async function flowPage(namespace, id, query) { // query: repo=…&ref=… (a branch or commit)
  const data = await api("GET", `/api/v1/flows/${enc(namespace)}/${enc(id)}/source${query ? `?${query}` : ""}`);
  const root = h("div", { class: "flow-page" });
  show(root);
  cleanups.push(await UI.mountFlowPage(root, data, namespace, id));
}

// -- executions ------------------------------------------------------------------------
async function executionsPage() {
  const body = h("tbody", {});
  const table = h("table", { id: "executions" }, h("thead", {}, h("tr", {},
    ["Execution", "Flow", "State", "Started", "Duration"].map((t) => h("th", {}, t)))), body);
  const refresh = async () => {
    const runs = await api("GET", "/api/v1/executions");
    body.replaceChildren(...runs.map((e) => h("tr", { "data-execution": e.id },
      h("td", {}, h("a", { href: `#/executions/${enc(e.id)}` }, h("code", {}, e.id))),
      h("td", {}, `${e.namespace}.${e.flowId}`), h("td", {}, state(e.state.current)),
      h("td", {}, when(e.state.startDate)), h("td", {}, duration(e.state.duration) || secondsBetween(e.state.startDate)))));
  };
  await refresh();
  show(h("h1", {}, "Executions"), table);
  every(2000, () => refresh().catch(() => {}));
}

// -- history (from the repositories' git notes): a list of runs, or runs by commit ---------------
function historyRow(r) {
  return h("tr", { "data-run": r.run },
    h("td", {}, h("code", {}, r.run)), h("td", {}, r.flow), h("td", {}, state(r.state)),
    h("td", {}, h("code", {}, (r.commit || "").slice(0, 10))), h("td", {}, r.ref || ""),
    h("td", {}, r.trigger || ""), h("td", {}, when(r.started)),
    h("td", {}, r.dur_ms == null ? "" : `${(r.dur_ms / 1000).toFixed(1)}s`));
}

function byCommit(rows) { // newest commit first, as the rows come
  const groups = new Map();
  for (const r of rows) {
    const key = r.commit || "";
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key).push(r);
  }
  return [...groups].flatMap(([commit, runs]) => {
    const counts = {};
    for (const r of runs) counts[r.state] = (counts[r.state] || 0) + 1;
    return [h("tr", { class: "commit-group", "data-commit": commit },
      h("td", { colspan: 8 }, h("code", { title: commit }, commit.slice(0, 10) || "(no commit)"), ` · ${runs[0].ref || ""} · `,
        Object.entries(counts).flatMap(([name, n]) => [state(name), ` ${n} `]))), ...runs.map(historyRow)];
  });
}

async function historyPage(query) {
  const params = new URLSearchParams(query || "");
  const flow = h("input", { id: "history-flow", placeholder: "namespace.id", value: params.get("flow") || "" });
  const ref = h("input", { id: "history-ref", placeholder: "branch", value: params.get("ref") || "" });
  const stateFilter = h("select", { id: "history-state" },
    ["", "SUCCESS", "WARNING", "FAILED", "KILLED", "RUNNING"].map((s) =>
      h("option", s === (params.get("state") || "") ? { value: s, selected: "" } : { value: s }, s || "any state")));
  const grouped = h("input", { type: "checkbox", id: "history-by-commit", checked: params.get("by") === "commit" });
  const body = h("tbody", {});
  const load = async () => {
    const q = new URLSearchParams();
    if (flow.value) q.set("flow", flow.value);
    if (ref.value) q.set("ref", ref.value);
    if (stateFilter.value) q.set("state", stateFilter.value);
    const rows = await api("GET", `/api/v1/history?${q}`);
    body.replaceChildren(...(grouped.checked ? byCommit(rows) : rows.map(historyRow)));
  };
  const form = h("form", { id: "history-filter" }, flow, ref, stateFilter,
    h("label", {}, grouped, " by commit"), h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => { event.preventDefault(); load().catch((err) => show(failure(err))); });
  grouped.addEventListener("change", () => load().catch((err) => show(failure(err))));
  await load();
  show(h("h1", {}, "History"), h("p", { class: "muted" }, "Every recorded run, from the repositories' refs/notes/flows."),
    form, h("table", { id: "history" }, h("thead", {}, h("tr", {},
      ["Run", "Flow", "State", "Commit", "Ref", "Trigger", "Started", "Duration"].map((t) => h("th", {}, t)))), body));
}

// -- one execution: Gantt of task runs, task runs, live logs, kill/resume/re-run ---------------
async function executionPage(id) {
  const head = h("div", {});
  const chart = h("div", { id: "gantt-box" });
  const runsBox = h("div", {});
  const logs = h("pre", { class: "logs", id: "logs" });
  const rerun = async (fromTask) => {
    try {
      const q = fromTask ? `?fromTask=${enc(fromTask)}` : "";
      const next = await api("POST", `/api/v1/executions/${enc(id)}/rerun${q}`, {});
      location.hash = `#/executions/${enc(next.id)}`;
    } catch (err) { head.append(failure(err)); }
  };
  const refresh = async () => {
    const e = await api("GET", `/api/v1/executions/${enc(id)}`);
    const current = e.state.current;
    const over = TERMINAL.has(current);
    const act = (what) => async () => {
      try { await api("POST", `/api/v1/executions/${enc(id)}/${what}`, {}); await refresh(); }
      catch (err) { head.append(failure(err)); }
    };
    head.replaceChildren(...[
      h("h1", {}, `${e.namespace}.${e.flowId} `, h("span", { id: "exec-state" }, state(current))),
      h("p", { class: "muted" }, h("code", {}, e.id), ` · started ${when(e.state.startDate)}`,
        e.state.duration ? ` · ${duration(e.state.duration)}` : "",
        e.trigger && e.trigger.commit ? [" · commit ", h("code", {}, e.trigger.commit.slice(0, 10))] : null),
      current === "RUNNING" || current === "CREATED" ? h("button", { id: "kill", onclick: act("kill") }, "Kill") : null,
      current === "PAUSED" ? h("button", { id: "resume", onclick: act("resume") }, "Resume") : null,
      over ? h("button", { id: "rerun", onclick: () => rerun(null) }, "Re-run") : null,
    ].filter(Boolean));
    chart.replaceChildren(UI.gantt(e));
    runsBox.replaceChildren(UI.taskRunsTable(e.taskRunList || [], over ? rerun : null));
    return over;
  };
  const done = await refresh();
  show(head, h("h2", {}, "Timeline"), chart, h("h2", {}, "Task runs"), runsBox, h("h2", {}, "Logs"), logs);
  const source = new EventSource(`/api/v1/executions/${enc(id)}/follow`);
  cleanups.push(() => source.close());
  source.addEventListener("log", (event) => {
    const line = JSON.parse(event.data);
    const stick = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
    logs.append(h("div", { class: `lvl-${line.level}` },
      h("span", { class: "muted" }, `${(line.timestamp || "").slice(11, 23)} `),
      line.taskId ? `[${line.taskId}] ` : "", line.message));
    if (stick) logs.scrollTop = logs.scrollHeight;
  });
  source.addEventListener("end", () => { source.close(); refresh().catch(() => {}); });
  if (!done) {
    let over = false;
    every(1000, async () => { if (!over) over = await refresh().catch(() => false); });
  }
}

// -- routing -----------------------------------------------------------------------------
async function route() {
  for (const stop of cleanups.splice(0)) stop();
  const [path, query] = (location.hash || "#/flows").slice(2).split("?");
  const parts = path.split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "flows" && parts.length === 3) await flowPage(parts[1], parts[2], query);
    else if (parts[0] === "executions" && parts.length === 2) await executionPage(parts[1]);
    else if (parts[0] === "executions") await executionsPage();
    else if (parts[0] === "history") await historyPage(query);
    else await flowsPage();
  } catch (err) { show(failure(err)); }
  document.body.dataset.route = parts.join("/");
}

window.addEventListener("hashchange", route);
route();
