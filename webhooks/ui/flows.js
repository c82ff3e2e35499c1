// The flows page: flows grouped by repository and namespace, each with its triggers (a
// Schedule's next fire time, relative and in its time zone) and its last runs as coloured
// dots linking to them. One API call (GET /api/v1/flows/overview) answers all of it.
import { UI, api, enc, every, h, inZone, millis, relative, select, setQuery, show, when } from "./common.js";

const REFETCH_MS = 10000;

function shortType(type) { return type.split(".").pop(); }

function triggerView(t) {
  const next = t.next ? h("div", { class: "next-fire", "data-next": t.nextUtc, "data-zone": t.timezone,
    title: `cron "${t.cron}" in ${t.timezone} · your time ${new Date(t.next).toLocaleString()}` },
  "next ", h("span", { class: "rel" }, relative(t.next)), " · ", h("span", { class: "abs" }, inZone(t.next, t.timezone))) : null;
  return h("div", { class: "trigger", "data-trigger": t.id },
    `${t.id} (${shortType(t.type)})`,
    t.disabled ? h("span", { class: "muted" }, " disabled") : null,
    t.problem ? h("span", { class: "error", title: t.problem }, " cannot be scheduled") : null,
    next);
}

function lastRuns(runs) { // the API gives newest first; the dots read left to right, newest last
  if (!runs.length) return h("span", { class: "muted" }, "no runs yet");
  return h("span", { class: "dots" }, [...runs].reverse().map((r) => {
    const label = `${r.state} · ${when(r.started)}${r.dur_ms != null ? ` · ${millis(r.dur_ms)}` : ""} · ${r.id}`;
    return h("a", { class: `dot dot-${r.state}`, href: `#/executions/${enc(r.id)}`, "data-run": r.id,
      "data-state": r.state, title: label, "aria-label": label });
  }));
}

// A file that does not parse opens by its path (#/edit?…&file=), with what is wrong shown here
function brokenCell(f) {
  const ref = String(f.ref || "").replace(/^refs\/heads\//, "");
  const q = new URLSearchParams({ repo: f.repo, file: f.file, ...(ref ? { ref } : {}) });
  const errors = f.diagnostics.filter((d) => d.severity === "error");
  return [h("a", { class: "open-file error", href: `#/edit?${q}`, title: "Open, fix and save it" }, "invalid: fix it"),
    h("ul", { class: "row-diagnostics small" }, errors.slice(0, 3).map((d) =>
      h("li", {}, h("code", {}, `${d.line}:${d.column}`), ` ${d.message}`)),
    errors.length > 3 ? h("li", { class: "muted" }, `… ${errors.length - 3} more`) : null)];
}

function flowRow(f) {
  const name = f.id ? `${f.namespace}.${f.id}` : f.file;
  return h("tr", { "data-flow": name, "data-repo": f.repo },
    h("td", {}, f.id ? h("a", { href: `#/flows/${enc(f.namespace)}/${enc(f.id)}?repo=${enc(f.repo)}` }, f.id)
      : brokenCell(f),
    f.description ? h("div", { class: "muted small" }, f.description) : null),
    h("td", { class: "triggers" }, f.triggers.map(triggerView)),
    h("td", { class: "last-runs" }, lastRuns(f.last || [])),
    h("td", {}, h("code", {}, f.file)),
    h("td", {}, h("code", { title: f.commit }, f.commit.slice(0, 10))),
    h("td", { class: "diag-count" }, String(f.diagnostics.length)));
}

function groups(flows) { // flows come sorted by repository, namespace, id
  const byKey = new Map();
  for (const f of flows) {
    const key = `${f.repo}\u0000${f.namespace ?? ""}`;
    if (!byKey.has(key)) byKey.set(key, []);
    byKey.get(key).push(f);
  }
  return [...byKey.values()].map((list) => {
    const { repo, namespace } = list[0];
    return h("section", { class: "flow-group", "data-repo": repo, "data-namespace": namespace ?? "" },
      h("h2", {}, namespace ?? "(flows that do not parse)", " ", h("span", { class: "muted" }, `· ${repo} · ${list.length}`)),
      h("table", {}, h("thead", {}, h("tr", {}, ["Flow", "Triggers", "Last runs", "File", "Commit", "Diagnostics"]
        .map((t) => h("th", {}, t)))), h("tbody", {}, list.map(flowRow))));
  });
}

function within(namespace, wanted) { return !wanted || namespace === wanted || (namespace || "").startsWith(`${wanted}.`); }

export async function flowsPage(query) {
  const params = new URLSearchParams(query || "");
  let data = await api("GET", "/api/v1/flows/overview");
  const repoSelect = select("flows-repo", data.repos, params.get("repo"), "all repositories");
  const nsSelect = select("flows-namespace", data.namespaces, params.get("namespace"), "all namespaces");
  const list = h("div", { id: "flows" });
  const render = () => {
    const shown = data.flows.filter((f) => (!repoSelect.value || f.repo === repoSelect.value)
      && (!nsSelect.value || (f.namespace !== null && within(f.namespace, nsSelect.value))));
    list.replaceChildren(...(shown.length ? groups(shown) : [h("p", { class: "empty", id: "flows-empty" },
      data.flows.length ? "No flow matches these filters." : "No flow yet: create one with New flow, or commit a YAML file under .flows/.")]));
    setQuery("flows", { repo: repoSelect.value, namespace: nsSelect.value });
  };
  repoSelect.addEventListener("change", render);
  nsSelect.addEventListener("change", render);
  const repos = {}; // repository → the branch it is served from (the new flow's default)
  for (const f of data.flows) repos[f.repo] = repos[f.repo] || String(f.ref || "").replace(/^refs\/heads\//, "");
  const creator = h("div", { id: "new-flow-box" });
  const newButton = h("button", { type: "button", id: "new-flow-button", onclick: () => {
    creator.replaceChildren(UI.newFlowForm(repos));
    newButton.hidden = true;
  } }, "New flow");
  render();
  show(h("h1", {}, "Flows"), h("div", { class: "filters", id: "flows-filter" }, repoSelect, nsSelect, newButton),
    creator, list);
  every(1000, () => { // relative times move on; past fire times are asked again
    let passed = false;
    for (const el of list.querySelectorAll(".next-fire")) {
      el.querySelector(".rel").textContent = relative(el.dataset.next);
      passed ||= new Date(el.dataset.next) <= Date.now();
    }
    if (passed && Date.now() - asked > 5000) refetch(); // at most every 5 s (clocks may differ)
  });
  let busy = false;
  let asked = Date.now();
  const refetch = async () => {
    if (busy) return;
    busy = true;
    asked = Date.now();
    try { data = await api("GET", "/api/v1/flows/overview"); render(); } catch { /* next round */ } finally { busy = false; }
  };
  every(REFETCH_MS, refetch);
}

// -- one flow: the editor (YAML and graph), save, run form: all from the bundle ------------
export async function flowPage(namespace, id, query) { // query: repo=…&ref=… (a branch or commit)
  const data = await api("GET", `/api/v1/flows/${enc(namespace)}/${enc(id)}/source${query ? `?${query}` : ""}`);
  const root = h("div", { class: "flow-page" });
  show(root);
  return UI.mountFlowPage(root, data, namespace, id);
}

// a flow file by its path, whether it parses or not (query: repo=…&file=…&ref=…)
export async function fileFlowPage(query) {
  const data = await api("GET", `/api/v1/flows/source?${query || ""}`);
  const root = h("div", { class: "flow-page" });
  show(root);
  return UI.mountFlowPage(root, data, data.namespace, data.id);
}
