// An execution's topology: the flow's tasks as a directed graph laid out by dagre (each list
// in order; a flowable task leads into the first task of each of its branches, and the ends
// of its branches lead on to the task after it), every node coloured by its task run's state.
import dagre from "@dagrejs/dagre";

const SVG = "http://www.w3.org/2000/svg";
const NODE_HEIGHT = 34;
const SIDE_BY_SIDE = new Set(["Parallel", "EachParallel", "Dag"]);

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

// tasks: [{id, type, children: [{name, tasks}]}]; adds their nodes and edges to g; returns
// the ids the next task follows from
function addList(g, tasks, from) {
  let ends = from;
  for (const task of tasks) {
    g.setNode(task.id, { task, width: Math.max(96, 16 + 7.5 * task.id.length), height: NODE_HEIGHT });
    for (const end of ends) g.setEdge(end, task.id);
    // the tasks of a Parallel (or a Dag: its order is not drawn) each start from it
    const side = SIDE_BY_SIDE.has(task.type.split(".").pop());
    const branches = (task.children || []).filter((b) => b.tasks.length)
      .flatMap((b) => (side && b.name === "tasks" ? b.tasks.map((t) => ({ name: b.name, tasks: [t] })) : [b]));
    ends = branches.length ? branches.flatMap((b) => addList(g, b.tasks, [task.id])) : [task.id];
  }
  return ends;
}

// the last state of each task id in the execution's task runs
function states(execution) {
  const found = {};
  for (const run of (execution && execution.taskRunList) || []) found[run.taskId] = run.state.current;
  return found;
}

// flow: {tasks, errors, finally} of GET …/source (task outlines); `finally` follows the
// tasks' ends, `errors` (run on a failure) stand apart. execution: null draws the flow alone
export function topology(flow, execution) {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 18, ranksep: 36, marginx: 8, marginy: 8 });
  g.setDefaultEdgeLabel(() => ({}));
  const ends = addList(g, flow.tasks || [], []);
  addList(g, flow.finally || [], ends);
  addList(g, flow.errors || [], []);
  dagre.layout(g);
  const { width, height } = g.graph();
  const ran = states(execution);
  const edges = g.edges().map((e) => {
    const points = g.edge(e).points;
    const d = points.map((p, i) => `${i ? "L" : "M"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
    return svg("path", { class: "topo-edge", d, "marker-end": "url(#topo-arrow)", "data-from": e.v, "data-to": e.w });
  });
  const nodes = g.nodes().map((id) => {
    const n = g.node(id);
    const current = execution ? ran[id] || "NOT_RUN" : "PLAN"; // no execution: the flow as written
    return svg("g", { class: `topo-node topo-${current}`, "data-task": id, "data-state": current,
      transform: `translate(${(n.x - n.width / 2).toFixed(1)},${(n.y - n.height / 2).toFixed(1)})` },
    svg("title", {}, `${id} · ${n.task.type} · ${current}`),
    svg("rect", { width: n.width, height: n.height, rx: 6 }),
    svg("text", { x: 10, y: 21 }, id));
  });
  const arrow = svg("defs", {}, svg("marker", { id: "topo-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: "topo-arrow" })));
  return svg("svg", { class: "topology", id: "topology", width: Math.ceil(width), height: Math.ceil(height),
    viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`, role: "img", "aria-label": "Task topology" },
  arrow, svg("g", {}, ...edges), svg("g", {}, ...nodes));
}

// repaint the states of a drawn topology (a live run moves on)
export function paintTopology(drawn, execution) {
  const ran = states(execution);
  for (const node of drawn.querySelectorAll(".topo-node")) {
    const current = ran[node.dataset.task] || "NOT_RUN";
    if (node.dataset.state !== current) {
      node.setAttribute("class", `topo-node topo-${current}`);
      node.dataset.state = current;
    }
  }
}
