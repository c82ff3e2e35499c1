// gitflows web UI: a hash-routed single page. Plain JavaScript modules (no build step):
// common.js (helpers), flows.js (the flows page and one flow's editor), executions.js (the
// executions list and one execution), and the history page here. The flow editor, the
// Gantt chart and the run form come from the bundle dist/editor.js (window.gitflowsUI,
// built from src/ by scripts/build-ui), loaded before these.
import { api, cleanups, enc, failure, h, show, state, when } from "./common.js";
import { dashboardPage } from "./dashboard.js";
import { executionPage, executionsPage } from "./executions.js";
import { fileFlowPage, flowPage, flowsPage } from "./flows.js";

// -- history (from the repositories' git notes): a list of runs, or runs by commit ---------------
function historyRow(r) {
  return h("tr", { "data-run": r.run },
    h("td", {}, h("a", { href: `#/executions/${enc(r.run)}` }, h("code", {}, r.run))), h("td", {}, r.flow), h("td", {}, state(r.state)),
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
  const empty = h("p", { class: "empty", id: "history-empty", hidden: true });
  const load = async () => {
    const q = new URLSearchParams();
    if (flow.value) q.set("flow", flow.value);
    if (ref.value) q.set("ref", ref.value);
    if (stateFilter.value) q.set("state", stateFilter.value);
    const rows = await api("GET", `/api/v1/history?${q}`);
    body.replaceChildren(...(grouped.checked ? byCommit(rows) : rows.map(historyRow)));
    const filtered = flow.value || ref.value || stateFilter.value;
    empty.replaceChildren(...(rows.length ? [] : filtered ? ["No recorded run matches these filters."]
      : ["No run is recorded yet. Open a flow on the ", h("a", { href: "#/flows" }, "Flows"),
        " page and click Execute, or push a commit a flow's trigger matches."]));
    empty.hidden = rows.length > 0;
  };
  const form = h("form", { id: "history-filter" }, flow, ref, stateFilter,
    h("label", {}, grouped, " by commit"), h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (event) => { event.preventDefault(); load().catch((err) => show(failure(err))); });
  grouped.addEventListener("change", () => load().catch((err) => show(failure(err))));
  await load();
  show(h("h1", {}, "History"), h("p", { class: "muted" }, "Every recorded run, from the repositories' refs/notes/flows."),
    form, h("table", { id: "history" }, h("thead", {}, h("tr", {},
      ["Run", "Flow", "State", "Commit", "Ref", "Trigger", "Started", "Duration"].map((t) => h("th", {}, t)))), body), empty);
}

// -- routing -----------------------------------------------------------------------------
async function route() {
  for (const stop of cleanups.splice(0)) stop();
  const [path, query] = (location.hash || "#/flows").slice(2).split("?");
  const parts = path.split("/").map(decodeURIComponent);
  try {
    if (parts[0] === "flows" && parts.length === 3) cleanups.push(await flowPage(parts[1], parts[2], query));
    else if (parts[0] === "edit") cleanups.push(await fileFlowPage(query));
    else if (parts[0] === "executions" && parts.length === 2) await executionPage(parts[1], query);
    else if (parts[0] === "executions") await executionsPage(query);
    else if (parts[0] === "history") await historyPage(query);
    else if (parts[0] === "dashboard") await dashboardPage();
    else await flowsPage(query);
  } catch (err) { show(failure(err)); }
  document.body.dataset.route = parts.join("/");
}

window.addEventListener("hashchange", route);
route();
