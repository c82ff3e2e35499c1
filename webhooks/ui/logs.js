// An execution's logs, one collapsible group per task (the flow's own lines first) with the
// task's state and a timer that runs while it does; a search box and a lowest-level filter
// hide the lines that do not match. Used by the live and the recorded execution pages alike.
import { h, secondsBetween, state } from "./common.js";

const LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];
const rank = (level) => Math.max(0, LEVELS.indexOf(level));

function lineView(line) {
  return h("div", { class: `log-line lvl-${line.level}`, "data-level": line.level },
    h("span", { class: "muted" }, `${(line.timestamp || "").slice(11, 23)} `),
    line.level && line.level !== "INFO" ? h("span", { class: "lvl" }, `${line.level} `) : null, line.message);
}

export function logView() {
  const box = h("div", { class: "logs", id: "logs" });
  const search = h("input", { type: "search", id: "log-search", placeholder: "search the logs" });
  const level = h("select", { id: "log-level", title: "lowest level shown" },
    LEVELS.map((l) => h("option", { value: l }, l === "TRACE" ? "all levels" : `${l} and above`)));
  const counter = h("span", { class: "muted small", id: "log-count" });
  const groups = new Map();
  let total = 0;

  const shows = (row) => rank(row.dataset.level) >= rank(level.value)
    && (!search.value || row.textContent.toLowerCase().includes(search.value.toLowerCase()));
  const count = () => {
    const shown = box.querySelectorAll(".log-line:not([hidden])").length;
    counter.textContent = shown === total ? `${total} lines` : `${shown} of ${total} lines`;
  };
  const group = (taskId) => {
    const key = taskId || "";
    if (!groups.has(key)) {
      const meta = h("span", { class: "task-meta" });
      const lines = h("div", { class: "lines" });
      const el = h("details", { class: "task-log", open: true, "data-task": key },
        h("summary", {}, h("strong", {}, key || "flow"), " ", meta), lines);
      groups.set(key, { el, meta, lines });
      if (key) box.append(el); else box.prepend(el); // the flow's own lines come first
    }
    return groups.get(key);
  };
  const filter = () => {
    for (const row of box.querySelectorAll(".log-line")) row.hidden = !shows(row);
    count();
  };
  search.addEventListener("input", filter);
  level.addEventListener("change", filter);

  return {
    toolbar: h("div", { class: "filters log-tools" }, search, level, counter),
    box,
    add(line) { // one log line, as GET …/follow streams it
      const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
      const row = lineView(line);
      row.hidden = !shows(row);
      group(line.taskId).lines.append(row);
      total += 1;
      count();
      if (stick) box.scrollTop = box.scrollHeight;
    },
    reset() { // empty, filters kept (a recorded run's log is read whole again)
      groups.clear();
      box.replaceChildren();
      total = 0;
      count();
    },
    tasks(execution) { // each task's state and time; a running one's timer moves on each call
      for (const run of execution.taskRunList || []) {
        const s = run.state || {};
        const running = !s.endDate && ["RUNNING", "CREATED"].includes(s.current);
        group(run.taskId).meta.replaceChildren(state(s.current), " ",
          h("span", { class: running ? "timer running" : "timer" }, secondsBetween(s.startDate, s.endDate)));
      }
    },
  };
}
