// The property form of the selected task, generated from the JSON schema of its type:
// text, number, true/false and enum fields, and a raw YAML box for any other value.
import { h, short } from "./dom.js";

const COMMON = new Set(["description", "disabled", "timeout", "retry", "allowFailure", "allowWarning", "runIf",
  "logLevel", "logToFile", "workerGroup", "version", "errors", "finally", "conditions", "stopAfter", "minLogLevel"]);

export class Schema {
  constructor(json) {
    this.json = json || { definitions: {} };
    this.defs = this.json.definitions || {};
  }

  resolve(node) {
    let seen = 0;
    while (node && node.$ref && seen++ < 10) node = this.defs[node.$ref.replace("#/definitions/", "")];
    return node || {};
  }

  // kind: "task" or "trigger"
  types(kind) {
    return Object.keys(this.defs).filter((k) => k.startsWith(`${kind}:`)).map((k) => k.slice(kind.length + 1)).sort();
  }

  def(kind, type) { return this.defs[`${kind}:${type}`] || null; }

  task(type) { return this.def("task", type); }

  // A property every type of its kind has (kept out of the picker and under "Common properties").
  isCommon(key) { return COMMON.has(key); }

  // Whether a property holds tasks (edited in the graph, not in the form).
  holdsTasks(prop) {
    if (prop.$ref === "#/definitions/tasks") return true;
    const resolved = this.resolve(prop);
    if (resolved.type === "object" && resolved.additionalProperties && resolved.additionalProperties.$ref === "#/definitions/tasks") return true;
    const items = resolved.items ? this.resolve(resolved.items) : null;
    return Boolean(items && (resolved.items.$ref === "#/definitions/task" || (items.properties && items.properties.task)));
  }

  // The widget of a property: string | number | integer | boolean | enum | yaml
  widget(prop) {
    const p = this.resolve(prop);
    if (Array.isArray(p.enum)) return "enum";
    if (p.type === "string") return "string";
    if (p.type === "integer" || p.type === "number") return p.type;
    if (p.type === "boolean") return "boolean";
    return "yaml";
  }

  // One shape of a property that takes several (anyOf/oneOf): a list for a name in the plural
  // (commands, files, values: Kestra documents them as lists), text otherwise (message, from).
  typed(prop, key) {
    const options = (prop.anyOf || prop.oneOf || []).map((p) => this.resolve(p));
    if (!options.length || prop.type) return prop;
    const order = /[^s]s$/.test(key) ? ["array", "string", "object"] : ["string", "array", "object"];
    return order.map((t) => options.find((p) => p.type === t)).find(Boolean) || options[0];
  }

  // A new task of this type with its required properties, so that it is close to valid.
  skeleton(type, id, kind = "task") {
    const def = this.def(kind, type);
    const task = { id, type };
    for (const key of (def && def.required) || []) {
      if (key in task) continue;
      const prop = this.typed(this.resolve(def.properties[key]), key);
      if (this.holdsTasks(def.properties[key])) task[key] = [];
      else if (Array.isArray(prop.enum)) task[key] = prop.enum[0];
      else if (prop.type === "integer" || prop.type === "number") task[key] = 0;
      else if (prop.type === "boolean") task[key] = false;
      else if (prop.type === "object") task[key] = {};
      else if (prop.type === "array") task[key] = this.resolve(prop.items || {}).type === "string" ? [""] : [];
      else task[key] = "";
    }
    return task;
  }
}

// edits: {set(key, value|undefined), setYaml(key, text), setType(type)}
// task.kind: "trigger" for a trigger, a task otherwise
export function propertyForm(schema, model, task, edits) {
  const kind = task.kind || "task";
  const def = schema.def(kind, task.type);
  const types = schema.types(kind);
  const header = h("div", { class: "form-head" }, h("strong", {}, task.id), " ",
    h("span", { class: "muted" }, short(task.type)));
  const typeSelect = h("select", { id: "prop-type", name: "type", onchange: (e) => edits.setType(e.target.value) },
    (types.includes(task.type) ? [] : [task.type]).concat(types)
      .map((t) => h("option", { value: t, selected: t === task.type }, t)));
  if (!def) {
    return h("form", { class: "props", id: "task-form", onsubmit: (e) => e.preventDefault() }, header,
      field("type", "type", typeSelect), h("p", { class: "muted" }, "No schema for this type: edit it in the YAML."));
  }
  const required = new Set(def.required || []);
  const keys = Object.keys(def.properties).filter((k) => k !== "type" && !schema.holdsTasks(def.properties[k]));
  // id first, then the required properties, then the rest (each alphabetically)
  const rank = (k) => (k === "id" ? 0 : required.has(k) ? 1 : 2);
  const own = keys.filter((k) => !COMMON.has(k)).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
  const common = keys.filter((k) => COMMON.has(k));
  const row = (key) => {
    const prop = def.properties[key];
    const resolved = schema.resolve(prop);
    const kind = schema.widget(prop);
    const current = model.value(task.path, key);
    const name = `prop-${key}`;
    let input;
    if (kind === "boolean") {
      input = h("select", { id: name, name: key, "data-kind": kind },
        ["", "true", "false"].map((v) => h("option", { value: v, selected: String(current ?? "") === v }, v || "(not set)")));
      input.addEventListener("change", () => edits.set(key, input.value === "" ? undefined : input.value === "true"));
    } else if (kind === "enum") {
      input = h("select", { id: name, name: key, "data-kind": kind },
        h("option", { value: "" }, "(not set)"),
        resolved.enum.map((v) => h("option", { value: String(v), selected: String(current) === String(v) }, String(v))));
      input.addEventListener("change", () => edits.set(key, input.value === "" ? undefined : input.value));
    } else if (kind === "yaml" || (current !== undefined && typeof current === "object" && current !== null)) {
      input = h("textarea", { id: name, name: key, "data-kind": "yaml", rows: 3, spellcheck: "false" });
      input.value = model.yamlOf(task.path, key);
      input.addEventListener("change", () => {
        try { edits.setYaml(key, input.value); input.setCustomValidity(""); }
        catch (err) { input.setCustomValidity(err.message); input.reportValidity(); }
      });
    } else {
      const numeric = kind === "integer" || kind === "number";
      input = h("input", { id: name, name: key, "data-kind": kind, type: numeric ? "number" : "text",
        step: kind === "number" ? "any" : null, placeholder: resolved.description || "" });
      input.value = current === undefined || current === null ? "" : String(current);
      input.addEventListener("change", () => {
        if (input.value === "") edits.set(key, key === "id" ? task.id : undefined);
        else edits.set(key, numeric ? Number(input.value) : input.value);
      });
    }
    return field(key, name, input, required.has(key), resolved.description);
  };
  return h("form", { class: "props", id: "task-form", "data-task": task.id, "data-kind": kind, onsubmit: (e) => e.preventDefault() },
    header, def.title ? h("p", { class: "muted" }, def.title) : null,
    field("type", "prop-type", typeSelect, true),
    own.map(row),
    h("details", {}, h("summary", {}, "Common properties"), common.map(row)));
}

function field(label, id, input, required, help) {
  return h("div", { class: "field" },
    h("label", { for: id }, label, required ? h("span", { class: "req" }, " *") : null),
    input, help ? h("div", { class: "help muted" }, help) : null);
}
