// The flow as a yaml Document (eemeli/yaml): the task tree the graph draws, and the edits the
// visual editor makes. Edits go through the Document API so that comments stay, then
// carryOver() keeps the formatting of every untouched line of the text.
import { parseDocument, isMap, isSeq, isScalar, Document } from "yaml";
import { carryOver } from "./merge.js";

const FLOW_LISTS = ["tasks", "errors", "finally", "afterExecution"];
const OPTIONS = { lineWidth: 0, minContentWidth: 0 };

function str(node) {
  return isScalar(node) ? String(node.value ?? "") : "";
}

function indentSeq(text) {
  // `tasks:\n- id` (no indent of the dash) is the other common style; keep whichever it uses
  const found = /^( *)[A-Za-z_][\w-]*:[ \t]*(?:#.*)?\n( *)- /m.exec(text);
  return !found || found[2].length > found[1].length;
}

function isTaskMap(node) {
  return isMap(node) && node.has("type") && node.has("id");
}

// The task behind a list item: the item itself, or `task:` of a Dag entry.
function unwrap(item) {
  if (isTaskMap(item)) return { node: item, inner: [] };
  if (isMap(item) && isTaskMap(item.get("task", true))) return { node: item.get("task", true), inner: ["task"] };
  return null;
}

function taskList(seq) {
  return isSeq(seq) && seq.items.length > 0 && seq.items.every((item) => unwrap(item) !== null);
}

// A task list (`listPath` in the document) as tree nodes.
function readList(seq, listPath) {
  return seq.items.map((item, index) => {
    const { node, inner } = unwrap(item) || { node: item, inner: [] };
    const path = [...listPath, index, ...inner];
    const dependsOn = inner.length && isSeq(item.get("dependsOn", true))
      ? item.get("dependsOn", true).items.map(str) : [];
    return { id: str(node.get("id", true)), type: str(node.get("type", true)), path, listPath, index,
      dag: inner.length > 0, dependsOn, range: node.range, branches: readBranches(node, path),
      disabled: node.get("disabled") === true };
  });
}

// Child task lists of a task: every property holding tasks (tasks, then, else, defaults,
// errors, finally …) and each case of a Switch's `cases`.
function readBranches(node, path) {
  const branches = [];
  for (const pair of node.items) {
    const key = str(pair.key);
    if (key === "type" || key === "id") continue;
    if (isSeq(pair.value) && (taskList(pair.value) || (pair.value.items.length === 0 && key !== "values"))) {
      if (pair.value.items.length === 0 && !["tasks", "then", "else", "defaults"].includes(key)) continue;
      branches.push({ name: key, listPath: [...path, key], tasks: readList(pair.value, [...path, key]) });
    } else if (key === "cases" && isMap(pair.value)) {
      for (const c of pair.value.items) {
        if (isSeq(c.value)) {
          const listPath = [...path, "cases", str(c.key)];
          branches.push({ name: `case ${str(c.key)}`, listPath, tasks: readList(c.value, listPath) });
        }
      }
    }
  }
  return branches;
}

export class FlowModel {
  constructor(text) {
    this.text = text;
    this.doc = parseDocument(text, { prettyErrors: true });
    this.errors = this.doc.errors;
    this.options = { ...OPTIONS, indentSeq: indentSeq(text) };
  }

  get ok() { return this.errors.length === 0 && isMap(this.doc.contents); }

  // The flow's task lists as trees: [{name, listPath, tasks}]
  sections() {
    const root = this.doc.contents;
    return FLOW_LISTS.filter((key) => key === "tasks" || isSeq(root.get(key, true)))
      .map((key) => {
        const seq = root.get(key, true);
        return { name: key, listPath: [key], tasks: isSeq(seq) ? readList(seq, [key]) : [] };
      });
  }

  // Every task node, depth first.
  all() {
    const out = [];
    const walk = (tasks) => { for (const t of tasks) { out.push(t); for (const b of t.branches) walk(b.tasks); } };
    for (const s of this.sections()) walk(s.tasks);
    return out;
  }

  // The flow's triggers, as nodes like the tasks' (kind "trigger", no branches).
  triggers() {
    const seq = isMap(this.doc.contents) ? this.doc.contents.get("triggers", true) : null;
    if (!isSeq(seq)) return [];
    return seq.items.map((node, index) => ({ id: isMap(node) ? str(node.get("id", true)) : "",
      type: isMap(node) ? str(node.get("type", true)) : "", kind: "trigger", path: ["triggers", index],
      listPath: ["triggers"], index, dag: false, dependsOn: [], range: node.range, branches: [],
      disabled: isMap(node) && node.get("disabled") === true }));
  }

  find(path) {
    const key = JSON.stringify(path);
    return [...this.all(), ...this.triggers()].find((t) => JSON.stringify(t.path) === key) || null;
  }

  // The innermost task whose source range holds this offset (for completion).
  taskAt(offset) {
    let best = null;
    for (const t of this.all()) if (t.range && t.range[0] <= offset && offset <= t.range[2]) best = t;
    return best;
  }

  // JavaScript value of a task's property (undefined when not set).
  value(path, key) {
    const node = this.doc.getIn([...path, key], true);
    if (node === undefined) return undefined;
    return isScalar(node) ? node.value : node.toJSON();
  }

  // A property as YAML text (for the raw editor of complex values).
  yamlOf(path, key) {
    const node = this.doc.getIn([...path, key], true);
    if (node === undefined) return "";
    const doc = new Document();
    doc.contents = node;
    return doc.toString(this.options).replace(/\n$/, "");
  }

  // Apply an edit to a clone of the document; the new text keeps untouched lines as typed.
  edit(change) {
    const base = this.doc.toString(this.options);
    const doc = this.doc.clone();
    change(doc);
    const edited = doc.toString(this.options);
    return carryOver(this.text, base, edited) ?? edited;
  }

  setProperty(path, key, value) {
    return this.edit((doc) => {
      if (value === undefined) doc.deleteIn([...path, key]);
      else if (doc.hasIn([...path, key]) && !isScalarValue(value)) doc.setIn([...path, key], doc.createNode(value));
      else if (doc.hasIn([...path, key])) {
        const node = doc.getIn([...path, key], true);
        if (isScalar(node)) node.value = value; else doc.setIn([...path, key], value);
      } else doc.setIn([...path, key], doc.createNode(value));
    });
  }

  setYaml(path, key, text) {
    const parsed = parseDocument(text);
    if (parsed.errors.length) throw new Error(parsed.errors[0].message);
    return this.edit((doc) => {
      if (parsed.contents === null) doc.deleteIn([...path, key]);
      else doc.setIn([...path, key], parsed.contents);
    });
  }

  // Insert a new task into a task list (created when missing) at index.
  addTask(listPath, index, task, dag = false) {
    return this.edit((doc) => {
      let seq = doc.getIn(listPath, true);
      if (!isSeq(seq)) {
        doc.setIn(listPath, doc.createNode([]));
        seq = doc.getIn(listPath, true);
      }
      seq.items.splice(index, 0, doc.createNode(dag ? { task } : task));
    });
  }

  removeTask(listPath, index) {
    const block = this.block(listPath, index);
    if (block) {
      const lines = this.text.split("\n");
      lines.splice(block.start, block.end - block.start);
      return lines.join("\n");
    }
    return this.edit((doc) => { doc.getIn(listPath, true).items.splice(index, 1); });
  }

  moveTask(listPath, index, delta) {
    const count = this.doc.getIn(listPath, true).items.length;
    const target = index + delta;
    if (target < 0 || target >= count) return null;
    // moving down by one = moving the next task up above this one
    return delta > 0 ? this.moveTo(listPath, target, listPath, index + (delta > 1 ? delta : 0), false, true)
      : this.moveTo(listPath, index, listPath, target, false, true);
  }

  // The lines of a block-style list item: its "- " line through its last value line, with
  // the comment lines right above it. Null for flow-style lists and odd layouts.
  block(listPath, index) {
    const seq = this.doc.getIn(listPath, true);
    const item = isSeq(seq) && !seq.flow ? seq.items[index] : null;
    if (!item || !item.range) return null;
    const text = this.text;
    const lineStart = text.lastIndexOf("\n", item.range[0] - 1) + 1;
    const prefix = /^( *)- +$/.exec(text.slice(lineStart, item.range[0]));
    if (!prefix) return null;
    const lines = text.split("\n");
    const lineOf = (offset) => text.slice(0, offset).split("\n").length - 1;
    let start = lineOf(lineStart);
    const endOffset = Math.max(item.range[1] - 1, item.range[0]);
    const end = lineOf(endOffset) + 1;
    while (start > 0 && /^\s*#/.test(lines[start - 1]) && lines[start - 1].search(/\S/) >= prefix[1].length) start--;
    return { start, end, indent: prefix[1].length };
  }

  // Drag and drop: the task at fromList[fromIndex] goes to toList before the task at toIndex
  // (at the end when there is none). Lines move as they are written, re-indented when the
  // list is nested differently; otherwise (flow-style lists, Dag wrapping) through the Document.
  moveTo(fromList, fromIndex, toList, toIndex, toDag, sameKind = false) {
    const from = JSON.stringify([...fromList, fromIndex]);
    if (JSON.stringify(toList).startsWith(`${from.slice(0, -1)},`)) return null; // into itself
    const item = this.doc.getIn([...fromList, fromIndex], true);
    const sourceDag = isMap(item) && unwrap(item)?.node !== item;
    const moved = this.block(fromList, fromIndex);
    const target = this.doc.getIn(toList, true);
    const anchor = isSeq(target) && toIndex < target.items.length ? this.block(toList, toIndex)
      : isSeq(target) && target.items.length ? this.block(toList, target.items.length - 1) : null;
    if (moved && anchor && (sameKind || sourceDag === Boolean(toDag))) {
      const lines = this.text.split("\n");
      const at = toIndex < target.items.length ? anchor.start : anchor.end;
      const shift = anchor.indent - moved.indent;
      const cut = lines.slice(moved.start, moved.end).map((line) => {
        if (!line.trim() || shift === 0) return line;
        return shift > 0 ? " ".repeat(shift) + line : line.replace(new RegExp(`^ {0,${-shift}}`), "");
      });
      if (at > moved.start && at < moved.end) return null; // inside itself
      const sameList = JSON.stringify(fromList) === JSON.stringify(toList);
      if (sameList && (at === moved.start || at === moved.end)) return null; // where it is
      if (at > moved.start) { lines.splice(at, 0, ...cut); lines.splice(moved.start, cut.length); }
      else { lines.splice(moved.start, cut.length); lines.splice(at, 0, ...cut); }
      return lines.join("\n");
    }
    return this.edit((doc) => {
      const source = doc.getIn(fromList, true);
      const into = doc.getIn(toList, true);
      const anchorNode = into.items[toIndex];
      const [item] = source.items.splice(fromIndex, 1);
      const { node } = unwrap(item);
      const next = toDag === (node !== item) ? item : (toDag ? doc.createNode({ task: null }) : node);
      if (next !== item && toDag) next.set("task", node);
      const at = anchorNode === undefined ? into.items.length : into.items.indexOf(anchorNode);
      into.items.splice(at, 0, next);
    });
  }

  ids() { return new Set([...this.all(), ...this.triggers()].map((t) => t.id)); }
}

function isScalarValue(value) {
  return value === null || ["string", "number", "boolean"].includes(typeof value);
}

// A task id not used yet in the flow: `log`, `log_2` …
export function freshId(model, type) {
  const base = (type.split(".").pop() || "task").replace(/[^A-Za-z0-9_-]/g, "").toLowerCase() || "task";
  const used = model.ids();
  if (!used.has(base)) return base;
  for (let n = 2; ; n++) if (!used.has(`${base}_${n}`)) return `${base}_${n}`;
}
