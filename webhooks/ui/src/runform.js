// The run form: one widget per input type. FILE inputs make the form multipart (as Kestra's
// API takes it); otherwise the typed values go as a JSON object.
import { h, api, enc } from "./dom.js";

const NATIVE = { DATETIME: "datetime-local", DATE: "date", TIME: "time", SECRET: "password", EMAIL: "email",
  URI: "url", INT: "number", FLOAT: "number", FILE: "file" };

function widget(input, id) {
  const kind = input.type;
  const given = input.defaults;
  if (kind === "BOOLEAN" || kind === "BOOL") return h("input", { type: "checkbox", id, name: input.id, checked: given === true });
  if ((kind === "SELECT" || kind === "MULTISELECT") && input.values) {
    const chosen = new Set([].concat(given ?? []).map(String));
    return h("select", { id, name: input.id, required: input.required, multiple: kind === "MULTISELECT" },
      input.required || kind === "MULTISELECT" ? null : h("option", { value: "" }, ""),
      input.values.map((v) => h("option", { value: String(v), selected: chosen.has(String(v)) }, String(v))));
  }
  if (kind === "JSON" || kind === "ARRAY" || kind === "YAML") {
    const area = h("textarea", { id, name: input.id, required: input.required, rows: 3, spellcheck: "false",
      placeholder: kind === "ARRAY" ? "[1, 2, 3]" : kind === "JSON" ? "{\"key\": \"value\"}" : "" });
    if (given !== null && given !== undefined) area.value = typeof given === "string" ? given : JSON.stringify(given);
    if (kind !== "YAML") {
      area.addEventListener("input", () => {
        let problem = "";
        if (area.value.trim()) {
          try {
            const parsed = JSON.parse(area.value);
            if (kind === "ARRAY" && !Array.isArray(parsed)) problem = "an array is expected, e.g. [1, 2]";
          } catch (err) { problem = `not JSON: ${err.message}`; }
        }
        area.setCustomValidity(problem);
      });
    }
    return area;
  }
  const type = NATIVE[kind] || "text";
  const field = h("input", { type, id, name: input.id, required: input.required,
    step: kind === "FLOAT" ? "any" : kind === "INT" ? "1" : (kind === "DATETIME" || kind === "TIME") ? "1" : null });
  if (given !== null && given !== undefined && type !== "file") {
    let value = String(given);
    if (kind === "DATETIME") value = value.replace(/(Z|[+-]\d\d:\d\d)$/, "").slice(0, 19);
    field.value = value;
  }
  return field;
}

// The value sent for one field (undefined: leave the input out, its default applies).
function valueOf(el) {
  const kind = el.dataset.type;
  if (el.type === "checkbox") return el.checked;
  if (el.multiple) return [...el.selectedOptions].map((o) => o.value);
  if (el.type === "file") return el.files[0];
  if (el.value === "") return undefined;
  if (kind === "INT") return parseInt(el.value, 10);
  if (kind === "FLOAT") return parseFloat(el.value);
  if (kind === "JSON" || kind === "ARRAY") return JSON.parse(el.value);
  return el.value;
}

// flow: {namespace, id, inputs}; query(): the ?repo=&ref= of the commit to run
export function runForm(flow, query) {
  const fields = flow.inputs.map((input) => {
    const id = `input-${input.id}`;
    const field = widget(input, id);
    field.dataset.type = input.type;
    return h("div", { class: "field" }, h("label", { for: id }, input.id, input.required ? h("span", { class: "req" }, " *") : null,
      h("span", { class: "muted" }, ` ${input.type}`)),
    input.description ? h("div", { class: "muted" }, input.description) : null, field);
  });
  const message = h("p", { class: "error", id: "run-error" });
  const defaults = flow.inputs.filter((i) => i.defaults !== null && i.defaults !== undefined).map((i) => i.id);
  const hint = h("p", { class: "muted small", id: "run-hint" }, flow.inputs.length === 0 ? "This flow takes no inputs."
    : `Inputs left empty take their defaults${defaults.length ? ` (${defaults.join(", ")} have one)` : ""}.`);
  const form = h("form", { class: "run", id: "run-form" }, fields, hint,
    h("button", { type: "submit", class: "primary", id: "run-button" }, "Execute"), message);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.reportValidity()) return;
    const elements = [...form.querySelectorAll("[name]")];
    const multipart = elements.some((el) => el.type === "file" && el.files.length);
    let body;
    if (multipart) {
      body = new FormData();
      for (const el of elements) {
        const value = valueOf(el);
        if (value === undefined) continue;
        if (value instanceof File) body.append(el.name, value, value.name);
        else body.append(el.name, typeof value === "object" ? JSON.stringify(value) : String(value));
      }
    } else {
      body = {};
      for (const el of elements) {
        const value = valueOf(el);
        if (value !== undefined) body[el.name] = value;
      }
    }
    try {
      const execution = await api("POST", `/api/v1/executions/${enc(flow.namespace)}/${enc(flow.id)}?${query()}`, body);
      location.hash = `#/executions/${enc(execution.id)}`;
    } catch (err) { message.textContent = err.message; }
  });
  return form;
}
