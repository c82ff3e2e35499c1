// Executions: the list (live runs of this server merged with the recorded ones from the
// repositories' notes, filtered, paged) and one execution's page: live (Gantt, task runs,
// streaming logs, kill/resume/re-run) or, for a run this server process did not run, the
// same page built from its record in the notes history.
import {
  STATES, TERMINAL, UI, api, cleanups, duration, enc, every, failure, h, millis,
  secondsBetween, select, setQuery, show, state, when,
} from "./common.js";
import { logView } from "./logs.js";

const TRIGGERS = ["manual", "schedule", "push", "pull_request", "webhook", "flow", "event", "rerun"];
const PAGE = 50;

function took(e) {
  if (e.duration) return duration(e.duration);
  if (e.dur_ms != null) return millis(e.dur_ms);
  return e.live && !TERMINAL.has(e.state) ? secondsBetween(e.startDate) : "";
}

function executionRow(e) {
  return h("tr", { "data-execution": e.id, "data-source": e.live ? "live" : "recorded" },
    // a run this process does not hold opens from the notes at once (no 404 in the console)
    h("td", {}, h("a", { href: `#/executions/${enc(e.id)}${e.live ? "" : "?recorded=1"}` }, h("code", {}, e.id))),
    h("td", {}, e.flow), h("td", {}, state(e.state)), h("td", {}, e.trigger || ""),
    h("td", {}, when(e.startDate)), h("td", {}, took(e)),
    h("td", { class: "muted" }, e.repo, e.ref ? ` · ${String(e.ref).replace(/^refs\/heads\//, "")}` : "",
      e.live ? "" : " · recorded"));
}

export async function executionsPage(query) {
  const params = new URLSearchParams(query || "");
  const known = await api("GET", "/api/v1/flows/overview").catch(() => ({ flows: [], namespaces: [] }));
  const flowNames = [...new Set(known.flows.filter((f) => f.id).map((f) => `${f.namespace}.${f.id}`))].sort();
  const filters = {
    state: select("filter-state", STATES, params.get("state"), "any state"),
    namespace: select("filter-namespace", known.namespaces, params.get("namespace"), "any namespace"),
    flow: select("filter-flow", flowNames, params.get("flow"), "any flow"),
    trigger: select("filter-trigger", TRIGGERS, params.get("trigger"), "any trigger"),
    q: h("input", { id: "filter-q", type: "search", placeholder: "execution id", value: params.get("q") || "" }),
  };
  const body = h("tbody", {});
  const more = h("button", { type: "button", id: "executions-more", hidden: true }, "Older executions");
  const empty = h("p", { class: "empty", id: "executions-empty", hidden: true });
  const values = () => Object.fromEntries(Object.entries(filters).map(([k, el]) => [k, el.value.trim()]));
  let next = null;
  const fetchPage = (limit, before) => {
    const q = new URLSearchParams({ limit: String(limit) });
    for (const [k, v] of Object.entries(values())) if (v) q.set(k, v);
    if (before) q.set("before", before);
    return api("GET", `/api/v1/executions/search?${q}`);
  };
  let generation = 0; // answers to an older filter are dropped
  const load = async (keep) => { // keep: refresh as many rows as are shown (after "older")
    const mine = ++generation;
    const page = await fetchPage(Math.min(500, Math.max(PAGE, keep ? body.children.length : 0)), null);
    if (mine !== generation) return;
    body.replaceChildren(...page.results.map(executionRow));
    next = page.next;
    more.hidden = !next;
    const filtered = Object.values(values()).some(Boolean);
    empty.replaceChildren(...(page.results.length ? [] : filtered ? ["No execution matches these filters."]
      : ["No execution yet. Open a flow on the ", h("a", { href: "#/flows" }, "Flows"),
        " page and click Execute; runs from pushes, schedules and webhooks show here too."]));
    empty.hidden = page.results.length > 0;
    setQuery("executions", values());
  };
  more.addEventListener("click", async () => {
    const mine = generation;
    const page = await fetchPage(PAGE, next);
    if (mine !== generation) return;
    body.append(...page.results.map(executionRow));
    next = page.next;
    more.hidden = !next;
  });
  let typing = null;
  for (const el of Object.values(filters)) {
    el.addEventListener(el.tagName === "INPUT" ? "input" : "change", () => {
      clearTimeout(typing);
      typing = setTimeout(() => load(false).catch((err) => show(failure(err))), el.tagName === "INPUT" ? 250 : 0);
    });
  }
  await load(false);
  show(h("h1", {}, "Executions"),
    h("div", { class: "filters", id: "executions-filter" }, Object.values(filters)),
    h("table", { id: "executions" }, h("thead", {}, h("tr", {},
      ["Execution", "Flow", "State", "Trigger", "Started", "Duration", "Repository · branch"].map((t) => h("th", {}, t)))), body),
    empty, more);
  every(2000, () => load(true).catch(() => {}));
}

// -- one execution -----------------------------------------------------------------------

function heading(e, current) {
  return h("h1", {}, `${e.namespace}.${e.flowId} `, h("span", { id: "exec-state" }, state(current)));
}

// Where a run came from, the same for a live and a recorded one: trigger, branch, the flow at
// the commit it ran (and on its branch), when, how long
function origin(e, extra) {
  const t = e.trigger || {};
  const branch = t.ref ? String(t.ref).replace(/^refs\/heads\//, "") : "";
  const flowAt = (ref) => `#/flows/${enc(e.namespace)}/${enc(e.flowId)}?${new URLSearchParams({
    ...(t.repo ? { repo: t.repo } : {}), ...(ref ? { ref } : {}) })}`;
  return h("p", { class: "muted", id: "exec-origin" }, h("code", {}, e.id),
    t.type ? [" · ", h("span", { class: "trigger-type" }, t.type)] : null,
    " · ", h("a", { class: "flow-link", href: flowAt(t.commit), title: "The flow as it ran" }, `${e.namespace}.${e.flowId}`),
    t.commit ? [" at ", h("a", { class: "commit-link", href: flowAt(t.commit), title: t.commit }, h("code", {}, t.commit.slice(0, 10)))] : null,
    branch ? [" on ", h("a", { class: "branch-link", href: flowAt(branch), title: "The flow on this branch now" }, branch)] : null,
    t.repo ? ` · ${t.repo}` : "",
    ` · started ${when(e.state.startDate)}`, e.state.duration ? ` · ${duration(e.state.duration)}` : "", extra || "");
}

// The flow as the run ran it (its commit), for the topology; null when it cannot be read
async function flowAt(e) {
  const t = e.trigger || {};
  if (!t.commit) return null;
  const q = new URLSearchParams({ ...(t.repo ? { repo: t.repo } : {}), ref: t.commit });
  try { return (await api("GET", `/api/v1/flows/${enc(e.namespace)}/${enc(e.flowId)}/source?${q}`)).flow; } catch { return null; }
}

// The topology section: drawn once the flow is read, repainted on each refresh
function topologyBox() {
  const box = h("div", { class: "topology-box", id: "topology-box" });
  let drawn = null;
  let asked = false;
  return {
    box,
    async update(e) {
      if (drawn) { UI.paintTopology(drawn, e); return; }
      if (asked) return;
      asked = true;
      const flow = await flowAt(e);
      if (!flow) { box.replaceChildren(h("p", { class: "muted" }, "The flow could not be read at this commit.")); return; }
      drawn = UI.topology(flow, e);
      box.replaceChildren(drawn);
    },
  };
}

// What a run was given and made: inputs (secrets as ******), outputs, labels
function kept(e, id = "recorded-kept") {
  const labels = Object.fromEntries((e.labels || []).map((l) => [l.key, l.value]));
  const given = Object.fromEntries(Object.entries(e.inputs || {}).filter(([, v]) => v !== null)); // null: not given
  const parts = [["Inputs", given, "exec-inputs"], ["Outputs", e.outputs, "exec-outputs"], ["Labels", labels, "exec-labels"]]
    .filter(([, v]) => v && Object.keys(v).length)
    .map(([title, v, key]) => [h("dt", {}, title), h("dd", { id: key }, h("pre", { class: "json" }, JSON.stringify(v, null, 2)))]);
  return parts.length ? h("dl", { id, class: "kept" }, parts.flat()) : null;
}

// query "recorded=1": a run the notes hold (the dashboard's failures), read from them at once
// rather than after a 404 from the live API (which chromium logs as a console error)
export async function executionPage(id, query) {
  if (new URLSearchParams(query || "").get("recorded") === "1") return recordedPage(id);
  let first;
  try { first = await api("GET", `/api/v1/executions/${enc(id)}`); } catch (err) {
    if (err?.status === 404) return recordedPage(id); // e.g. a prefix of a recorded run's id
    throw err;
  }
  // answered from the notes (this process does not hold it): no kill, no live log stream
  if (first.recorded) return recordedPage(id);
  const head = h("div", {});
  const chart = h("div", { id: "gantt-box" });
  const runsBox = h("div", {});
  const logs = logView();
  const topo = topologyBox();
  const rerun = async (fromTask) => {
    try {
      const q = fromTask ? `?fromTask=${enc(fromTask)}` : "";
      const again = await api("POST", `/api/v1/executions/${enc(id)}/rerun${q}`, {});
      location.hash = `#/executions/${enc(again.id)}`;
    } catch (err) { head.append(failure(err)); }
  };
  const refresh = async (given) => {
    const e = given || await api("GET", `/api/v1/executions/${enc(id)}`);
    const current = e.state.current;
    const over = TERMINAL.has(current);
    const act = (what) => async () => {
      try { await api("POST", `/api/v1/executions/${enc(id)}/${what}`, {}); await refresh(); }
      catch (err) { head.append(failure(err)); }
    };
    head.replaceChildren(...[
      heading(e, current),
      origin(e),
      kept(e, "exec-kept"),
      current === "RUNNING" || current === "CREATED" ? h("button", { id: "kill", onclick: act("kill") }, "Kill") : null,
      current === "PAUSED" ? h("button", { id: "resume", onclick: act("resume") }, "Resume") : null,
      over ? h("button", { id: "rerun", onclick: () => rerun(null) }, "Re-run") : null,
    ].filter(Boolean));
    chart.replaceChildren(UI.gantt(e));
    runsBox.replaceChildren(UI.taskRunsTable(e.taskRunList || [], over ? rerun : null));
    logs.tasks(e);
    topo.update(e).catch(() => {});
    return over;
  };
  const done = await refresh(first);
  show(head, h("h2", {}, "Topology"), topo.box, h("h2", {}, "Timeline"), chart, h("h2", {}, "Task runs"), runsBox, h("h2", {}, "Logs"), logs.toolbar, logs.box);
  const source = new EventSource(`/api/v1/executions/${enc(id)}/follow`);
  cleanups.push(() => source.close());
  source.addEventListener("log", (event) => logs.add(JSON.parse(event.data)));
  source.addEventListener("end", () => { source.close(); refresh().catch(() => {}); });
  if (!done) {
    let over = false;
    every(1000, async () => { if (!over) over = await refresh().catch(() => false); });
  }
}

// A run known from the notes only (another process ran it, or this one before a restart)
async function recordedPage(id) {
  const head = h("div", {});
  const chart = h("div", { id: "gantt-box" });
  const runsBox = h("div", {});
  const logs = logView();
  const topo = topologyBox();
  const notes = h("div", {});
  const rerun = async (fromTask) => { // from the recorded commit, inputs and task outputs
    try {
      const q = fromTask ? `?fromTask=${enc(fromTask)}` : "";
      const again = await api("POST", `/api/v1/executions/${enc(id)}/rerun${q}`, {});
      location.hash = `#/executions/${enc(again.id)}`;
    } catch (err) { head.append(failure(err)); }
  };
  const render = (e) => {
    const over = TERMINAL.has(e.state.current);
    head.replaceChildren(...[heading(e, e.state.current),
      origin(e, e.recorded.runner ? ` · ran on ${e.recorded.runner}` : ""),
      h("p", { id: "recorded-note", class: "note" }, "Recorded run, read from the repository's notes history ",
        h("code", {}, "refs/notes/flows"), ": this server process did not run it, so it cannot be killed here; ",
        "a re-run starts it again at its commit with its recorded inputs."),
      over && e.recorded.detail ? h("button", { id: "rerun", onclick: () => rerun(null) }, "Re-run") : null,
    ].filter(Boolean));
    notes.replaceChildren(...[
      e.recorded.detail ? null : h("p", { class: "muted", id: "no-detail" },
        "No task-run detail is stored for this run in this clone: it is still running elsewhere, or its log was pruned or not fetched."),
      kept(e),
    ].filter(Boolean));
    chart.replaceChildren(UI.gantt(e));
    runsBox.replaceChildren(UI.taskRunsTable(e.taskRunList || [], over && e.recorded.detail ? rerun : null));
    logs.reset();
    for (const line of e.recorded.hasLog ? e.logs : []) logs.add(line);
    if (!e.recorded.hasLog) logs.box.append(h("span", { class: "muted" }, "(no log stored)"));
    logs.tasks(e);
    topo.update(e).catch(() => {});
    return over;
  };
  const done = render(await api("GET", `/api/v1/history/${enc(id)}/execution`));
  show(head, notes, h("h2", {}, "Topology"), topo.box, h("h2", {}, "Timeline"), chart, h("h2", {}, "Task runs"), runsBox, h("h2", {}, "Logs"), logs.toolbar, logs.box);
  if (!done) { // running in another process: its record grows
    let over = false;
    every(3000, async () => {
      if (!over) over = await api("GET", `/api/v1/history/${enc(id)}/execution`).then(render).catch(() => false);
    });
  }
}
