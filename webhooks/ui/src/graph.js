// The flow as nested boxes: a task list runs top to bottom; a flowable task (Sequential,
// Parallel, If, Switch, ForEach, Dag, …) is a group holding its branches; Parallel and Dag
// children and the branches of If/Switch sit side by side.
import { h, short } from "./dom.js";

const SIDE_BY_SIDE = new Set(["Parallel", "Dag"]);
const KIND = { Parallel: "parallel", Dag: "dag", If: "if", Switch: "switch", ForEach: "loop",
  ForEachItem: "loop", LoopUntil: "loop", Subflow: "subflow", Sequential: "seq", WorkingDirectory: "seq",
  AllowFailure: "seq" };

// actions: {select(task), move(task, delta), remove(task), add(listPath, index, dag), addTrigger(index)}
export function renderGraph(model, selected, actions) {
  const key = selected ? JSON.stringify(selected) : null;

  function taskBox(task, count) {
    const kind = KIND[short(task.type)] || "task";
    const isSelected = key === JSON.stringify(task.path);
    const head = h("div", { class: "node-head", onclick: (e) => { e.stopPropagation(); actions.select(task); } },
      h("span", { class: "node-id" }, task.id),
      h("span", { class: "node-type" }, short(task.type)),
      task.dag && task.dependsOn.length ? h("span", { class: "node-deps" }, `after ${task.dependsOn.join(", ")}`) : null,
      h("span", { class: "node-tools" },
        h("button", { type: "button", class: "move-up", title: "Move up", disabled: task.index === 0,
          onclick: (e) => { e.stopPropagation(); actions.move(task, -1); } }, "↑"),
        h("button", { type: "button", class: "move-down", title: "Move down", disabled: task.index === count - 1,
          onclick: (e) => { e.stopPropagation(); actions.move(task, 1); } }, "↓"),
        h("button", { type: "button", class: "remove", title: "Remove task",
          onclick: (e) => { e.stopPropagation(); actions.remove(task); } }, "✕")));
    const box = h("div", { class: `node kind-${kind}${isSelected ? " selected" : ""}${task.disabled ? " disabled" : ""}`,
      "data-task": task.id, "data-path": JSON.stringify(task.path), draggable: "true" }, head);
    box.addEventListener("dragstart", (e) => {
      e.stopPropagation();
      e.dataTransfer.setData("application/x-gitflows-task", JSON.stringify(task.path));
    });
    box.addEventListener("dragover", (e) => { if (e.dataTransfer.types.includes("application/x-gitflows-task")) e.preventDefault(); });
    box.addEventListener("drop", (e) => {
      const from = e.dataTransfer.getData("application/x-gitflows-task");
      if (!from) return;
      e.preventDefault();
      e.stopPropagation();
      actions.drop(JSON.parse(from), task);
    });
    if (task.branches.length) {
      const across = short(task.type) === "If" || short(task.type) === "Switch";
      box.append(h("div", { class: `branches${across ? " across" : ""}` },
        task.branches.map((b) => branch(b, SIDE_BY_SIDE.has(short(task.type)) && b.name === "tasks", task))));
    }
    return box;
  }

  function branch(b, sideBySide, owner) {
    const dag = owner !== null && short(owner.type) === "Dag" && b.name === "tasks";
    return h("div", { class: "branch", "data-branch": b.name },
      owner ? h("div", { class: "branch-name" }, b.name) : null,
      list(b, sideBySide, dag));
  }

  function list(b, sideBySide, dag) {
    const items = b.tasks.map((t) => taskBox(t, b.tasks.length));
    return h("div", { class: `tasklist${sideBySide ? " side" : ""}`, "data-list": JSON.stringify(b.listPath) },
      items,
      h("button", { type: "button", class: "add-task", title: "Add a task here",
        onclick: (e) => { e.stopPropagation(); actions.add(b.listPath, b.tasks.length, dag); } }, "+ task"));
  }

  // triggers: boxes that start the flow (selected, moved and removed like tasks, not dragged)
  function triggerBox(trigger, count) {
    const box = taskBox(trigger, count);
    box.classList.add("kind-trigger");
    box.removeAttribute("draggable");
    return box;
  }

  const triggers = model.triggers();
  return h("div", { class: "graph-root" }, model.sections().map((s) =>
    h("section", { class: "graph-section", "data-section": s.name },
      s.name === "tasks" ? null : h("div", { class: "branch-name" }, s.name),
      list(s, false, false))),
  h("section", { class: "graph-section", "data-section": "triggers" },
    h("div", { class: "branch-name" }, "triggers"),
    h("div", { class: "tasklist triggerlist", "data-list": "[\"triggers\"]" },
      triggers.map((t) => triggerBox(t, triggers.length)),
      h("button", { type: "button", class: "add-trigger", title: "Add a trigger",
        onclick: (e) => { e.stopPropagation(); actions.addTrigger(triggers.length); } }, "+ trigger"))));
}
