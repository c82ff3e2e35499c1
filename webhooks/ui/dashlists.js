// The dashboard's lists and trends: each flow's mean duration per day (a line per flow, the
// flows run most), the latest failures with the task that failed (GET
// /api/v1/dashboard/failures, from the notes history) and the next scheduled runs (the cron
// triggers' next fire times the flows overview computes).
import { enc, h, inZone, millis, relative, state, when } from "./common.js";

const TRENDS = 6;
const NEXT = 8;
const PALETTE = ["#0969da", "#8250df", "#1a7f37", "#bf3989", "#9a6700", "#57606a"];

function durationMs(row) { // recorded rows carry dur_ms; live ones an ISO duration (PT1.5S)
  if (row.dur_ms != null) return row.dur_ms;
  const m = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?$/.exec(row.duration || "");
  return m ? ((+m[1] || 0) * 3600 + (+m[2] || 0) * 60 + (parseFloat(m[3]) || 0)) * 1000 : null;
}

// rows: executions (newest first); days: "YYYY-MM-DD" labels → chart.js line datasets
export function durationTrends(rows, days) {
  const per = new Map(); // flow → day index → [ms]
  for (const row of rows) {
    const at = days.indexOf((row.startDate || "").slice(0, 10));
    const ms = durationMs(row);
    if (at < 0 || ms == null) continue;
    if (!per.has(row.flow)) per.set(row.flow, days.map(() => []));
    per.get(row.flow)[at].push(ms);
  }
  const count = (flow) => per.get(flow).reduce((n, list) => n + list.length, 0);
  const flows = [...per.keys()].sort((a, b) => count(b) - count(a) || a.localeCompare(b)).slice(0, TRENDS);
  return flows.map((flow, i) => ({ label: flow, borderColor: PALETTE[i], backgroundColor: PALETTE[i], spanGaps: true,
    data: per.get(flow).map((list) => (list.length ? list.reduce((a, b) => a + b, 0) / list.length / 1000 : null)) }));
}

export function failuresTable(failures) {
  if (!failures.length) return h("p", { class: "muted", id: "failures-none" }, "No failed run recorded yet.");
  return h("table", { id: "failures" },
    h("thead", {}, h("tr", {}, ["Execution", "Flow", "Failed task", "Error", "Started"].map((t) => h("th", {}, t)))),
    h("tbody", {}, failures.map((f) => h("tr", { "data-execution": f.id },
      h("td", {}, state(f.state), " ", h("a", { href: `#/executions/${enc(f.id)}?recorded=1` }, h("code", {}, f.id.slice(-8)))),
      h("td", {}, h("a", { href: `#/executions?flow=${enc(f.flow)}` }, f.flow)),
      h("td", { class: "failed-task" }, f.failedTasks.length ? f.failedTasks.map((t) => h("code", {}, t)) : h("span", { class: "muted" }, "–")),
      h("td", { class: "failure-message small" }, f.message || ""),
      h("td", { class: "small" }, when(f.startDate), f.dur_ms != null ? ` · ${millis(f.dur_ms)}` : "")))));
}

// overview: GET /api/v1/flows/overview → the next NEXT fire times of enabled Schedule triggers
export function nextRunsTable(overview) {
  const fires = overview.flows.flatMap((f) => f.triggers.filter((t) => t.nextUtc)
    .map((t) => ({ flow: f, trigger: t }))).sort((a, b) => a.trigger.nextUtc.localeCompare(b.trigger.nextUtc)).slice(0, NEXT);
  if (!fires.length) return h("p", { class: "muted", id: "next-none" }, "No scheduled trigger: add a Schedule trigger to a flow.");
  return h("table", { id: "next-runs" },
    h("thead", {}, h("tr", {}, ["Flow", "Trigger", "Next run", "Cron"].map((t) => h("th", {}, t)))),
    h("tbody", {}, fires.map(({ flow, trigger }) => h("tr", { "data-flow": `${flow.namespace}.${flow.id}`, "data-trigger": trigger.id },
      h("td", {}, h("a", { href: `#/flows/${enc(flow.namespace)}/${enc(flow.id)}?repo=${enc(flow.repo)}` }, `${flow.namespace}.${flow.id}`)),
      h("td", {}, trigger.id),
      h("td", { class: "next-fire", "data-next": trigger.nextUtc }, relative(trigger.next), " · ", inZone(trigger.next, trigger.timezone)),
      h("td", {}, h("code", {}, trigger.cron))))));
}
