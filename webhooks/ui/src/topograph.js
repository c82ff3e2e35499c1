// The flow's tasks as a dagre compound graph, as Kestra draws them: triggers lead into the
// first task; a flowable task is a group (a dagre cluster) holding its head node and its
// branches; If/Switch branches are labelled edges; Parallel children start side by side;
// a Dag's children start from their dependsOn (or from the Dag when they have none); the
// ends of a group lead on to the next task; `finally` follows the tasks, `errors` apart.
import dagre from "@dagrejs/dagre";

export const NODE_HEIGHT = 40;
const SIDE_BY_SIDE = new Set(["Parallel", "EachParallel"]);
const GROUP_KIND = { Parallel: "parallel", EachParallel: "parallel", Dag: "dag", If: "if", Switch: "switch",
  ForEach: "loop", ForEachItem: "loop", LoopUntil: "loop", EachSequential: "loop" };

const short = (type) => String(type || "").split(".").pop();
const width = (...texts) => Math.max(96, 18 + Math.max(...texts.map((t) => 7.4 * String(t).length)));

// an edge: from an end ({id, label?, dep?}) to a node; a label gets room in the layout
function link(g, end, to) {
  const label = end.label || null;
  g.setEdge(end.id, to, { label, dep: Boolean(end.dep), trigger: Boolean(end.trigger), labelpos: "c",
    width: label ? 10 + 6.6 * label.length : 0, height: label ? 16 : 0 });
}

function cluster(g, id, label, kind, parent) {
  g.setNode(id, { cluster: true, label, kind });
  if (parent) g.setParent(id, parent);
}

// tasks: [{id, type, dependsOn?, children: [{name, tasks}]}] in order, from the ends `from`,
// inside the cluster `parent`; returns the ends the next task follows from
function addList(g, tasks, from, parent) {
  let ends = from;
  for (const task of tasks) {
    const branches = (task.children || []).filter((b) => b.tasks.length);
    const group = branches.length ? `group:${task.id}` : null;
    if (group) cluster(g, group, task.id, GROUP_KIND[short(task.type)] || "group", parent);
    g.setNode(task.id, { task, width: width(task.id, short(task.type)), height: NODE_HEIGHT });
    if (group || parent) g.setParent(task.id, group || parent);
    for (const end of ends) link(g, end, task.id);
    ends = group ? addBranches(g, task, branches, group) : [{ id: task.id }];
  }
  return ends;
}

function addBranches(g, task, branches, group) {
  const type = short(task.type);
  const named = branches.length > 1 || branches.some((b) => b.name !== "tasks");
  return branches.flatMap((b) => {
    if (type === "Dag" && b.name === "tasks") return addDag(g, task, b.tasks, group);
    if (SIDE_BY_SIDE.has(type) && b.name === "tasks") return b.tasks.flatMap((t) => addList(g, [t], [{ id: task.id }], group));
    return addList(g, b.tasks, [{ id: task.id, label: named ? b.name.replace(/^cases?[. ]/, "") : null }], group);
  });
}

// a Dag's children in dependency order; the ends of the children no sibling depends on lead on
function addDag(g, dag, children, group) {
  const ids = new Set(children.map((c) => c.id));
  const deps = Object.fromEntries(children.map((c) => [c.id, (c.dependsOn || []).filter((d) => ids.has(d))]));
  const ends = {};
  let left = children;
  while (left.length) {
    const ready = left.filter((c) => deps[c.id].every((d) => d in ends));
    const batch = ready.length ? ready : [left[0]]; // a cycle (the diagnostics say so): start it from the Dag
    for (const c of batch) {
      const from = ready.length && deps[c.id].length
        ? deps[c.id].flatMap((d) => ends[d].map((e) => ({ id: e.id, dep: true }))) : [{ id: dag.id }];
      ends[c.id] = addList(g, [c], from, group);
    }
    left = left.filter((c) => !batch.includes(c));
  }
  const needed = new Set(Object.values(deps).flat());
  return children.filter((c) => !needed.has(c.id)).flatMap((c) => ends[c.id]);
}

// flow: {tasks, errors, finally, triggers}; returns the laid-out dagre graph
export function layoutFlow(flow) {
  const g = new dagre.graphlib.Graph({ compound: true });
  g.setGraph({ rankdir: "LR", nodesep: 26, ranksep: 40, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const starts = (flow.triggers || []).map((t) => {
    const id = `trigger:${t.id}`;
    g.setNode(id, { trigger: t, width: width(t.id, short(t.type)), height: NODE_HEIGHT });
    return { id, trigger: true };
  });
  const ends = addList(g, flow.tasks || [], starts, null);
  if ((flow.finally || []).length) {
    cluster(g, "section:finally", "finally", "section", null);
    addList(g, flow.finally, ends, "section:finally");
  }
  if ((flow.errors || []).length) {
    cluster(g, "section:errors", "errors", "section", null);
    addList(g, flow.errors, [], "section:errors");
  }
  dagre.layout(g);
  return g;
}
