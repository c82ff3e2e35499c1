// gitflows web UI: a hash-routed single page, plain JavaScript, no build step.
// Every text from the server goes through textContent (h() below): never innerHTML.
"use strict";

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
  const init = { method, headers: {} };
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
  show(h("h1", {}, "Flows"),
    h("table", { id: "flows" },
      h("thead", {}, h("tr", {}, ["Repository", "Flow", "File", "Commit", "Triggers", "Diagnostics"]
        .map((t) => h("th", {}, t)))),
      h("tbody", {}, rows)));
}

// -- one flow: source editor, inline validation, outline, run form ---------------------------
function outline(tasks) {
  return h("ul", { class: "outline" }, tasks.map((t) => h("li", { "data-task": t.id },
    h("code", {}, t.id), h("span", { class: "type" }, t.type.split(".").pop()),
    t.disabled ? h("span", { class: "muted" }, " (disabled)") : null,
    t.children.map((c) => h("div", {}, h("span", { class: "muted" }, `${c.name}:`), outline(c.tasks))))));
}

function editor(source, file) {
  const gutter = h("div", { class: "gutter", id: "gutter" });
  const area = h("textarea", { id: "editor", spellcheck: "false", wrap: "off" });
  area.value = source;
  const list = h("ul", { class: "diagnostics", id: "diagnostics" });
  let marks = new Map();
  const paint = () => {
    const count = area.value.split("\n").length;
    gutter.replaceChildren(...Array.from({ length: count }, (_, i) => {
      const mark = marks.get(i + 1);
      return h("div", { class: mark || null, "data-line": i + 1 }, String(i + 1));
    }));
    gutter.scrollTop = area.scrollTop;
  };
  const render = (diagnostics) => {
    marks = new Map();
    for (const d of diagnostics) {
      if (marks.get(d.line) !== "err") marks.set(d.line, d.severity === "error" ? "err" : "warn");
    }
    list.replaceChildren(...(diagnostics.length ? diagnostics.map((d) =>
      h("li", { class: d.severity, "data-code": d.code, "data-line": d.line },
        h("code", {}, `${d.line}:${d.column}`), " ", h("strong", {}, `${d.severity} ${d.code}`), `: ${d.message}`))
      : [h("li", { class: "ok" }, "valid")]));
    paint();
  };
  let timer = null;
  let seq = 0;
  const validate = async () => {
    const mine = ++seq;
    try {
      const found = await api("POST", `/api/v1/flows/validate?file=${enc(file)}`, area.value, "application/x-yaml");
      if (mine === seq) render(found);
    } catch (err) { list.replaceChildren(h("li", {}, String(err.message))); }
  };
  area.addEventListener("input", () => { paint(); clearTimeout(timer); timer = setTimeout(validate, 300); });
  area.addEventListener("scroll", () => { gutter.scrollTop = area.scrollTop; });
  cleanups.push(() => clearTimeout(timer));
  validate();
  return h("div", {}, h("div", { class: "editor" }, gutter, area), h("h2", {}, "Diagnostics"), list);
}

function runForm(flow, query) {
  const fields = flow.inputs.map((input) => {
    const id = `input-${input.id}`;
    let field;
    if (input.type === "BOOLEAN" || input.type === "BOOL") {
      field = h("input", { type: "checkbox", id, name: input.id, checked: input.defaults === true });
    } else if (input.type === "SELECT" && input.values) {
      field = h("select", { id, name: input.id, required: input.required },
        input.required ? null : h("option", { value: "" }, ""),
        input.values.map((v) => h("option", { value: String(v), selected: String(v) === String(input.defaults) }, String(v))));
    } else {
      const numeric = input.type === "INT" || input.type === "FLOAT";
      field = h("input", { type: numeric ? "number" : "text", id, name: input.id, required: input.required,
        step: input.type === "FLOAT" ? "any" : (numeric ? "1" : null) });
      if (input.defaults !== null && input.defaults !== undefined) field.value = String(input.defaults);
    }
    field.dataset.type = input.type;
    return h("div", {}, h("label", { for: id }, input.id, input.required ? h("span", { class: "req" }, " *") : null,
      h("span", { class: "muted" }, ` ${input.type}`)),
      input.description ? h("div", { class: "muted" }, input.description) : null, field);
  });
  const message = h("p", { class: "error", id: "run-error" });
  const form = h("form", { class: "run", id: "run-form" }, fields,
    h("button", { type: "submit", class: "primary", id: "run-button" }, "Execute"), message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const inputs = {};
    for (const el of form.querySelectorAll("[name]")) {
      const kind = el.dataset.type;
      if (el.type === "checkbox") inputs[el.name] = el.checked;
      else if (el.value === "") continue;
      else if (kind === "INT") inputs[el.name] = parseInt(el.value, 10);
      else if (kind === "FLOAT") inputs[el.name] = parseFloat(el.value);
      else inputs[el.name] = el.value;
    }
    try {
      const execution = await api("POST", `/api/v1/executions/${enc(flow.namespace)}/${enc(flow.id)}?${query}`, inputs);
      location.hash = `#/executions/${enc(execution.id)}`;
    } catch (err) { message.textContent = err.message; }
  });
  return form;
}

async function flowPage(namespace, id) {
  const data = await api("GET", `/api/v1/flows/${enc(namespace)}/${enc(id)}/source`);
  const query = `repo=${enc(data.repo)}&ref=${enc(data.commit)}`;
  show(h("h1", {}, `${namespace}.${id}`),
    h("p", { class: "muted" }, `${data.repo} · `, h("code", {}, data.file), " at ", h("code", {}, data.commit.slice(0, 10))),
    data.flow.description ? h("p", {}, data.flow.description) : null,
    h("div", { class: "columns" },
      h("section", {}, h("h2", {}, "Source"), editor(data.source, data.file)),
      h("section", {},
        h("h2", {}, "Run"), runForm(data.flow, query),
        h("h2", {}, "Tasks"), h("div", { id: "outline" }, outline(data.flow.tasks),
          data.flow.errors.length ? [h("div", { class: "muted" }, "errors:"), outline(data.flow.errors)] : null,
          data.flow.finally.length ? [h("div", { class: "muted" }, "finally:"), outline(data.flow.finally)] : null))));
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

// -- history (from the repositories' git notes) -----------------------------------------------
async function historyPage(query) {
  const params = new URLSearchParams(query || "");
  const flow = h("input", { id: "history-flow", placeholder: "namespace.id", value: params.get("flow") || "" });
  const ref = h("input", { id: "history-ref", placeholder: "branch", value: params.get("ref") || "" });
  const stateFilter = h("select", { id: "history-state" },
    ["", "SUCCESS", "WARNING", "FAILED", "KILLED", "RUNNING"].map((s) =>
      h("option", s === (params.get("state") || "") ? { value: s, selected: "" } : { value: s }, s || "any state")));
  const body = h("tbody", {});
  const load = async () => {
    const q = new URLSearchParams();
    if (flow.value) q.set("flow", flow.value);
    if (ref.value) q.set("ref", ref.value);
    if (stateFilter.value) q.set("state", stateFilter.value);
    const rows = await api("GET", `/api/v1/history?${q}`);
    body.replaceChildren(...rows.map((r) => h("tr", { "data-run": r.run },
      h("td", {}, h("code", {}, r.run)), h("td", {}, r.flow), h("td", {}, state(r.state)),
      h("td", {}, h("code", {}, (r.commit || "").slice(0, 10))), h("td", {}, r.ref || ""),
      h("td", {}, r.trigger || ""), h("td", {}, when(r.started)),
      h("td", {}, r.dur_ms == null ? "" : `${(r.dur_ms / 1000).toFixed(1)}s`))));
  };
  const form = h("form", { id: "history-filter" }, flow, ref, stateFilter, h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => { event.preventDefault(); load().catch((err) => show(failure(err))); });
  await load();
  show(h("h1", {}, "History"), h("p", { class: "muted" }, "Every recorded run, from the repositories' refs/notes/flows."),
    form, h("table", { id: "history" }, h("thead", {}, h("tr", {},
      ["Run", "Flow", "State", "Commit", "Ref", "Trigger", "Started", "Duration"].map((t) => h("th", {}, t)))), body));
}

function taskRuns(runs) {
  return h("table", { id: "taskruns" }, h("thead", {}, h("tr", {},
    ["Task", "Value", "State", "Attempts", "Duration", "Outputs"].map((t) => h("th", {}, t)))),
  h("tbody", {}, runs.map((r) => h("tr", { "data-task": r.taskId },
    h("td", {}, h("code", {}, r.taskId)), h("td", {}, r.value ?? ""), h("td", {}, state(r.state.current)),
    h("td", {}, String(r.attempts.length)), h("td", {}, duration(r.state.duration) || secondsBetween(r.state.startDate)),
    h("td", {}, Object.keys(r.outputs || {}).length ? h("pre", { class: "json" }, JSON.stringify(r.outputs, null, 2)) : "")))));
}

async function executionPage(id) {
  const head = h("div", {});
  const runsBox = h("div", {});
  const logs = h("pre", { class: "logs", id: "logs" });
  const refresh = async () => {
    const e = await api("GET", `/api/v1/executions/${enc(id)}`);
    const current = e.state.current;
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
    ].filter(Boolean));
    runsBox.replaceChildren(taskRuns(e.taskRunList || []));
    return TERMINAL.has(current);
  };
  const done = await refresh();
  show(head, h("h2", {}, "Task runs"), runsBox, h("h2", {}, "Logs"), logs);
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
  const parts = (location.hash || "#/flows").slice(2).split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "flows" && parts.length === 3) await flowPage(parts[1], parts[2]);
    else if (parts[0] === "executions" && parts.length === 2) await executionPage(parts[1]);
    else if (parts[0] === "executions") await executionsPage();
    else if (parts[0].startsWith("history")) await historyPage(location.hash.split("?")[1]);
    else await flowsPage();
  } catch (err) { show(failure(err)); }
  document.body.dataset.route = parts.join("/");
}

window.addEventListener("hashchange", route);
route();
