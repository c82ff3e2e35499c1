// The execution as a Gantt chart: one row per task run, one bar per attempt (or the task
// run itself when it has none, as flowable tasks do), coloured by state; running bars grow
// to "now" on every refresh.
import { h } from "./dom.js";

const ms = (iso) => (iso ? new Date(iso).getTime() : null);

function seconds(a, b) { return `${((b - a) / 1000).toFixed(2)}s`; }

export function gantt(execution, now = Date.now()) {
  const runs = execution.taskRunList || [];
  const start = ms(execution.state.startDate) ?? now;
  const end = ms(execution.state.endDate) ?? now;
  const total = Math.max(end - start, 1);
  const pct = (t) => `${(((t - start) / total) * 100).toFixed(3)}%`;
  const rows = runs.map((run) => {
    const spans = run.attempts && run.attempts.length
      ? run.attempts.map((a, i) => ({ state: a.state, label: `attempt ${i + 1}` }))
      : [{ state: run.state, label: "task run" }];
    const bars = spans.map((span) => {
      const from = ms(span.state.startDate) ?? start;
      const to = ms(span.state.endDate) ?? (["RUNNING", "CREATED"].includes(span.state.current) ? now : from);
      return h("div", { class: `gantt-bar bar-${span.state.current}`, "data-state": span.state.current,
        style: `left: ${pct(from)}; width: max(3px, calc(${pct(to)} - ${pct(from)}))`,
        title: `${run.taskId} ${span.label}: ${span.state.current}, ${seconds(from, to)}` });
    });
    return h("div", { class: "gantt-row", "data-task": run.taskId },
      h("div", { class: "gantt-label", title: run.taskId }, run.taskId, run.value ? h("span", { class: "muted" }, ` ${run.value}`) : null),
      h("div", { class: "gantt-track" }, bars));
  });
  const axis = h("div", { class: "gantt-row gantt-axis" }, h("div", { class: "gantt-label" }),
    h("div", { class: "gantt-track" }, h("span", { style: "left: 0" }, "0s"),
      h("span", { style: "right: 0" }, seconds(start, end))));
  return h("div", { class: "gantt", id: "gantt" }, rows.length ? [...rows, axis] : h("p", { class: "muted" }, "No task ran yet."));
}

// Task runs with their attempts and outputs; a failed one offers "Re-run from this task".
export function taskRunsTable(runs, rerunFrom) {
  const attempts = (run) => (run.attempts || []).map((a, i) =>
    h("div", { class: "attempt" }, `${i + 1}: `, h("span", { class: `state state-${a.state.current}` }, a.state.current),
      a.state.startDate ? ` ${seconds(ms(a.state.startDate), ms(a.state.endDate) ?? Date.now())}` : ""));
  return h("table", { id: "taskruns" }, h("thead", {}, h("tr", {},
    ["Task", "Value", "State", "Attempts", "Outputs", ""].map((t) => h("th", {}, t)))),
  h("tbody", {}, runs.map((r) => h("tr", { "data-task": r.taskId },
    h("td", {}, h("code", {}, r.taskId)), h("td", {}, r.value ?? ""),
    h("td", {}, h("span", { class: `state state-${r.state.current}` }, r.state.current)),
    h("td", { class: "attempts" }, attempts(r)),
    h("td", {}, Object.keys(r.outputs || {}).length ? h("pre", { class: "json" }, JSON.stringify(r.outputs, null, 2)) : ""),
    h("td", {}, r.state.current === "FAILED" && !r.parentTaskRunId && rerunFrom // fromTask: a top-level task
      ? h("button", { type: "button", class: "rerun-from", onclick: () => rerunFrom(r.taskId) }, "Re-run from this task") : "")))));
}
