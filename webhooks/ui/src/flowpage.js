// The flow page: YAML editor and visual editor side by side, kept in step both ways, the
// selected task's property form, the save panel and the run form.
import { h, api, enc } from "./dom.js";
import { FlowModel, freshId } from "./yamlmodel.js";
import { renderGraph } from "./graph.js";
import { Schema, propertyForm } from "./form.js";
import { createEditor } from "./codeeditor.js";
import { savePanel } from "./save.js";
import { completeAt } from "./complete.js";
import { runForm } from "./runform.js";
import { topology } from "./topology.js";
import { pickType } from "./picker.js";

const REPARSE_MS = 300;
let schemaPromise = null;

export function loadSchema() {
  schemaPromise = schemaPromise || api("GET", "/api/v1/schema").then((json) => new Schema(json))
    .catch(() => { schemaPromise = null; return new Schema(null); });
  return schemaPromise;
}

function diagnosticItems(found) {
  return found.length ? found.map((d) => h("li", { class: d.severity, "data-code": d.code, "data-line": d.line },
    h("code", {}, `${d.line}:${d.column}`), " ", h("strong", {}, `${d.severity} ${d.code}`), `: ${d.message}`))
    : [h("li", { class: "ok" }, "valid")];
}

// Mount the flow page into `root`; returns a cleanup function. data: GET …/source answer.
export async function mountFlowPage(root, data, namespace, id) {
  const schema = await loadSchema();
  // byFile: opened by its path because it did not parse; a save names the flow its text names
  const state = { repo: data.repo, branch: data.branch || data.ref || "", branches: data.branches || [],
    base: data.commit, file: data.file, namespace, id, byFile: !data.flow };
  let model = new FlowModel(data.source);
  let selected = null;
  let timer = null;
  let lintSeq = 0;

  const graphBox = h("div", { class: "graph", id: "graph" });
  const topologyBox = h("div", { class: "topology-box", id: "flow-topology", hidden: true });
  const views = h("div", { class: "view-switch", role: "tablist" },
    h("button", { type: "button", id: "view-edit", class: "selected", onclick: () => view(false) }, "Edit"),
    h("button", { type: "button", id: "view-topology", onclick: () => view(true) }, "Topology"));
  const view = (topo) => { // the editable boxes, or the read-only graph laid out by dagre
    graphBox.hidden = topo;
    topologyBox.hidden = !topo;
    views.children[0].classList.toggle("selected", !topo);
    views.children[1].classList.toggle("selected", topo);
    render();
  };
  const graphError = h("div", { class: "graph-error", id: "graph-error", hidden: true });
  const formBox = h("div", { class: "task-form", id: "form-box" });
  const diagnostics = h("ul", { class: "diagnostics", id: "diagnostics" });
  const editorBox = h("div", { class: "cm-box", id: "editor" });

  const lint = async (text) => {
    const mine = ++lintSeq;
    try {
      const found = await api("POST", `/api/v1/flows/validate?file=${enc(state.file)}`, text, "application/x-yaml");
      if (mine !== lintSeq) return null;
      diagnostics.replaceChildren(...diagnosticItems(found));
      return found;
    } catch (err) {
      diagnostics.replaceChildren(h("li", {}, String(err.message)));
      return [];
    }
  };

  const complete = (pos) => completeAt(schema, editor.getText(), pos);

  const render = () => {
    if (selected && !model.find(selected)) selected = null;
    graphBox.replaceChildren(renderGraph(model, selected, actions));
    if (!topologyBox.hidden) topologyBox.replaceChildren(topology(outlineOf(model), null));
    const task = selected ? model.find(selected) : null;
    formBox.replaceChildren(task ? propertyForm(schema, model, task, edits(task))
      : h("p", { class: "muted" }, "Select a task in the graph to edit its properties."));
  };

  const reparse = (text) => {
    clearTimeout(timer);
    const next = new FlowModel(text);
    if (!next.ok) {
      graphError.hidden = false;
      graphError.textContent = next.errors.length ? `YAML error: ${next.errors[0].message}` : "The flow is not a YAML mapping.";
      return false;
    }
    graphError.hidden = true;
    model = next;
    render();
    return true;
  };

  const editor = createEditor(editorBox, data.source, {
    lint, complete,
    onChange: (text) => { clearTimeout(timer); timer = setTimeout(() => reparse(text), REPARSE_MS); },
  });

  // A visual edit: bring the model up to the text first, then write the edited text back.
  const apply = (change) => {
    if (model.text !== editor.getText() && !reparse(editor.getText())) return;
    const text = change(model);
    if (text === null || text === undefined || text === model.text) return;
    editor.setText(text);
    reparse(text);
  };

  const edits = (task) => ({
    set: (key, value) => apply((m) => m.setProperty(task.path, key, value)),
    setYaml: (key, text) => apply((m) => m.setYaml(task.path, key, text)),
    setType: (type) => apply((m) => m.setProperty(task.path, "type", type)),
  });

  // Insert a new task or trigger (add(model, id) gives the text) and select it for editing.
  const insert = (kind, type, add) => {
    const id = freshId(model, type);
    apply((m) => add(m, id));
    const added = (kind === "trigger" ? model.triggers() : model.all()).find((t) => t.id === id);
    if (!added) return;
    selected = added.path;
    render();
    // the keyboard goes on to the new one's first required property (its id when it has none)
    const first = formBox.querySelector(".field .req") ? [...formBox.querySelectorAll(".field")]
      .find((f) => f.querySelector(".req") && !f.querySelector("#prop-type, #prop-id")) : null;
    (first ? first.querySelector("input, select, textarea") : formBox.querySelector("#prop-id"))?.focus();
  };

  const actions = {
    select: (task) => { selected = task.path; render(); },
    move: (task, delta) => {
      if (selected && JSON.stringify(selected) === JSON.stringify(task.path)) selected = [...task.listPath, task.index + delta, ...task.path.slice(task.listPath.length + 1)];
      apply((m) => m.moveTask(task.listPath, task.index, delta));
    },
    remove: (task) => {
      if (!window.confirm(`Remove task ${task.id}?`)) return;
      selected = null;
      apply((m) => m.removeTask(task.listPath, task.index));
    },
    // the picker's type goes in with its required properties (as completion writes them)
    add: (listPath, index, dag) => pickType(schema, "task", (type) => insert("task", type,
      (m, id) => m.addTask(listPath, index, schema.skeleton(type, id), dag))),
    addTrigger: (index) => pickType(schema, "trigger", (type) => insert("trigger", type,
      (m, id) => m.addTask(["triggers"], index, schema.skeleton(type, id, "trigger")))),
    drop: (fromPath, target) => {
      const from = model.find(fromPath);
      if (!from || JSON.stringify(from.path) === JSON.stringify(target.path)) return;
      if ((from.kind === "trigger") !== (target.kind === "trigger")) return; // a task is no trigger
      selected = null;
      apply((m) => m.moveTo(from.listPath, from.index, target.listPath, target.index, target.dag));
    },
  };

  render();
  lint(data.source);
  // a run is of the commit shown, recorded under the branch it was taken from
  const query = () => `repo=${enc(state.repo)}&ref=${enc(state.base)}${state.branch ? `&branch=${enc(state.branch)}` : ""}`;
  const meta = h("p", { class: "muted", id: "flow-meta" });
  const showMeta = () => meta.replaceChildren(`${state.repo} · `, h("code", {}, state.file), " at ",
    h("code", { title: state.base }, state.base.slice(0, 10)), state.branch ? ` · ${state.branch}` : "");
  const runBox = h("div", { id: "run-box" });
  const showRun = (flow) => runBox.replaceChildren(flow ? runForm(flow, query)
    : h("p", { class: "muted", id: "run-blocked" }, "This flow does not parse: fix the errors in Diagnostics and save it to run it."));
  const saved = async (result) => {
    if (state.byFile) { // it parses now: open it as the flow its text names
      const named = new FlowModel(editor.getText());
      state.namespace = named.value([], "namespace");
      state.id = named.value([], "id");
    }
    const next = `#/flows/${enc(state.namespace)}/${enc(state.id)}?${new URLSearchParams({ repo: state.repo, ref: state.branch })}`;
    if (state.byFile) { location.hash = next; return; }
    history.replaceState(null, "", next); // the address names the branch saved to (a reload stays there)
    showMeta();
    const fresh = await api("GET", `/api/v1/flows/${enc(state.namespace)}/${enc(state.id)}/source?${
      new URLSearchParams({ repo: state.repo, ref: result.commit })}`);
    showRun(fresh.flow);
  };
  const named = () => (state.byFile ? identity(editor.getText(), state) : state);
  const save = savePanel(state, editor, { saved: (result) => saved(result).catch((err) => runBox.replaceChildren(
    h("p", { class: "error" }, String(err.message)))), reloaded: (source) => { if (typeof source === "string") reparse(source); },
  named });
  showMeta();
  showRun(data.flow);

  root.replaceChildren(...[
    h("h1", {}, namespace && id ? `${namespace}.${id}` : data.file),
    meta,
    data.flow && data.flow.description ? h("p", {}, data.flow.description) : null,
    save,
    h("div", { class: "flow-editor" },
      h("section", { class: "pane-yaml" }, h("h2", {}, "YAML"), editorBox, h("h2", {}, "Diagnostics"), diagnostics),
      h("section", { class: "pane-graph" }, h("h2", {}, "Tasks ", views), graphError, graphBox, topologyBox),
      h("section", { class: "pane-form" }, h("h2", {}, "Task"), formBox,
        h("h2", {}, "Run"), runBox))].filter(Boolean));

  const unfit = fitToWindow(editorBox, [save, meta]);
  // for tests and the console: the editor's text, as the page sees it
  window.gitflowsEditor = { getText: editor.getText, setText: (t) => editor.setText(t, true), view: editor.view,
    get model() { return model; } };
  return () => { // leaving the page: an open type picker goes too
    clearTimeout(timer); unfit(); editor.view.destroy(); document.getElementById("type-picker")?.remove();
  };
}

// The YAML editor fills the window below where it starts (editor.css: --editor-top), so its
// own scroller is the only one of its text; measured again when the window or what sits
// above it (the save panel's messages) changes size.
function fitToWindow(box, above) {
  const fit = () => box.style.setProperty("--editor-top", `${Math.round(box.getBoundingClientRect().top + window.scrollY)}px`);
  const watcher = new ResizeObserver(fit);
  above.forEach((el) => watcher.observe(el));
  window.addEventListener("resize", fit);
  fit();
  return () => { watcher.disconnect(); window.removeEventListener("resize", fit); };
}

// the editor's model as the task outlines topology() draws: {tasks, errors, finally, triggers}
function outlineOf(model) {
  const convert = (t, i) => ({ id: t.id || `(task ${i + 1})`, type: t.type || "", dependsOn: t.dependsOn,
    children: t.branches.map((b) => ({ name: b.name, tasks: b.tasks.map(convert) })) });
  const lists = Object.fromEntries(model.sections().map((sec) => [sec.name, sec.tasks.map(convert)]));
  return { tasks: lists.tasks || [], errors: lists.errors || [], finally: lists.finally || [],
    triggers: model.triggers().map((t, i) => ({ id: t.id || `(trigger ${i + 1})`, type: t.type || "" })) };
}

// the namespace and id a flow's text names (those it was opened with when it names none)
function identity(text, fallback) {
  const model = new FlowModel(text);
  const pick = (key) => { const v = model.ok ? model.value([], key) : undefined; return typeof v === "string" && v ? v : fallback[key]; };
  return { namespace: pick("namespace"), id: pick("id") };
}
