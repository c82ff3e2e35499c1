// An execution's topology (or the flow's, before it runs): the graph of topograph.js drawn as
// SVG, every task node coloured by its task run's state and repainted as a live run moves on.
import { layoutFlow } from "./topograph.js";

const SVG = "http://www.w3.org/2000/svg";

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs || {})) if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  for (const child of children) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

const fixed = (n) => n.toFixed(1);
const short = (type) => String(type || "").split(".").pop();

// the last state of each task id in the execution's task runs
function states(execution) {
  const found = {};
  for (const run of (execution && execution.taskRunList) || []) found[run.taskId] = run.state.current;
  return found;
}

function edgeView(g, e) {
  const data = g.edge(e);
  const d = data.points.map((p, i) => `${i ? "L" : "M"}${fixed(p.x)},${fixed(p.y)}`).join(" ");
  const kind = data.dep ? " topo-dep" : data.trigger ? " topo-from-trigger" : "";
  const path = svg("path", { class: `topo-edge${kind}`, d, "marker-end": "url(#topo-arrow)", "data-from": e.v, "data-to": e.w,
    "data-label": data.label });
  if (!data.label) return [path];
  return [path, svg("text", { class: "topo-edge-label", x: fixed(data.x), y: fixed(data.y + 4), "text-anchor": "middle",
    "data-from": e.v, "data-to": e.w }, data.label)];
}

function box(n, attrs, title, first, second) {
  return svg("g", { ...attrs, transform: `translate(${fixed(n.x - n.width / 2)},${fixed(n.y - n.height / 2)})` },
    svg("title", {}, title),
    svg("rect", { width: n.width, height: n.height, rx: 6 }),
    svg("text", { x: 10, y: 17 }, first),
    svg("text", { x: 10, y: 31, class: "topo-type" }, second));
}

function groupView(id, n) {
  return svg("g", { class: `topo-group topo-kind-${n.kind}`, "data-group": n.label },
    svg("rect", { x: fixed(n.x - n.width / 2), y: fixed(n.y - n.height / 2), width: fixed(n.width), height: fixed(n.height), rx: 8 }),
    svg("text", { x: fixed(n.x - n.width / 2 + 6), y: fixed(n.y - n.height / 2 + 11), class: "topo-group-label" }, n.label));
}

// flow: {tasks, errors, finally, triggers} of GET …/source (task outlines). execution: null
// draws the flow alone
export function topology(flow, execution) {
  const g = layoutFlow(flow);
  const { width, height } = g.graph();
  const ran = states(execution);
  const groups = [];
  const nodes = [];
  for (const id of g.nodes()) {
    const n = g.node(id);
    if (n.cluster) { groups.push(groupView(id, n)); continue; }
    if (n.trigger) {
      nodes.push(box(n, { class: "topo-trigger", "data-trigger": n.trigger.id }, `trigger ${n.trigger.id} · ${n.trigger.type}`,
        n.trigger.id, `${short(n.trigger.type)} trigger`));
      continue;
    }
    const current = execution ? ran[id] || "NOT_RUN" : "PLAN"; // no execution: the flow as written
    nodes.push(box(n, { class: `topo-node topo-${current}`, "data-task": id, "data-state": current },
      `${id} · ${n.task.type} · ${current}`, id, short(n.task.type)));
  }
  const arrow = svg("defs", {}, svg("marker", { id: "topo-arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: "topo-arrow" })));
  return svg("svg", { class: "topology", id: "topology", width: Math.ceil(width), height: Math.ceil(height),
    viewBox: `0 0 ${Math.ceil(width)} ${Math.ceil(height)}`, role: "img", "aria-label": "Task topology" },
  arrow, svg("g", {}, ...groups), svg("g", {}, ...g.edges().flatMap((e) => edgeView(g, e))), svg("g", {}, ...nodes));
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
