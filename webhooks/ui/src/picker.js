// The type picker of the visual editor: a modal dialog with a search box over every task (or
// trigger) type of the schema, by full name, short name and title; the highlighted type's
// description and properties (required ones marked) beside the list. Keyboard: arrows move,
// Enter chooses, Escape closes.
import { h, short } from "./dom.js";

const HIDDEN = new Set(["id", "type"]);

// The types matching every word of the query, best first: a short name starting with the
// query, then one containing it, then a match in the full name or the title; among those,
// the more words that are whole parts of the name (shell.Commands before powershell.Commands).
export function matching(schema, kind, query) {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  const q = words.join(" ");
  const rank = (type) => {
    const name = short(type).toLowerCase();
    const parts = new Set(type.toLowerCase().split("."));
    const first = name === q ? 0 : name.startsWith(q) ? 1 : name.includes(q) ? 2 : 3;
    return first * 100 - words.filter((w) => parts.has(w)).length;
  };
  return schema.types(kind).filter((type) => {
    const text = `${type} ${(schema.def(kind, type) || {}).title || ""}`.toLowerCase();
    return words.every((w) => text.includes(w));
  }).sort((a, b) => rank(a) - rank(b) || short(a).localeCompare(short(b)) || a.localeCompare(b));
}

// What a type does and which properties it takes, the required ones first and marked.
function details(schema, kind, type) {
  const def = schema.def(kind, type) || { properties: {} };
  const required = new Set(def.required || []);
  const keys = Object.keys(def.properties || {}).filter((k) => !HIDDEN.has(k) && !schema.isCommon(k))
    .sort((a, b) => Number(required.has(b)) - Number(required.has(a)) || a.localeCompare(b));
  return [
    h("h4", {}, short(type)), h("code", { class: "muted picker-full" }, type),
    h("p", { class: "picker-desc" }, def.title || "No description."),
    keys.length ? h("ul", { class: "picker-props" }, keys.map((k) => {
      const prop = schema.resolve(def.properties[k]);
      return h("li", { "data-prop": k, class: required.has(k) ? "required" : null },
        h("code", {}, k), required.has(k) ? h("span", { class: "req", title: "required" }, " *") : null,
        prop.description ? h("span", { class: "muted" }, ` ${prop.description}`) : null);
    })) : h("p", { class: "muted" }, "No properties of its own."),
  ];
}

// Open the picker; chosen(type) is called with the type picked (not at all when cancelled).
export function pickType(schema, kind, chosen) {
  const search = h("input", { type: "search", id: "type-search", placeholder: `Search ${kind} types…`,
    autocomplete: "off", role: "combobox", "aria-expanded": "true", "aria-controls": "type-list",
    "aria-label": `Search ${kind} types` });
  const list = h("ul", { id: "type-list", role: "listbox", "aria-label": `${kind} types` });
  const info = h("div", { id: "type-details", class: "picker-details", "aria-live": "polite" });
  const count = h("span", { class: "muted", id: "type-count" });
  const dialog = h("dialog", { id: "type-picker", class: "picker", "data-kind": kind },
    h("form", { method: "dialog", class: "picker-head" },
      h("strong", {}, kind === "trigger" ? "Add a trigger" : "Add a task"), count,
      h("button", { type: "submit", class: "picker-close", title: "Close (Escape)", value: "cancel" }, "✕")),
    search, h("div", { class: "picker-body" }, list, info));
  let shown = [];
  let active = 0;

  const highlight = (index) => {
    active = Math.max(0, Math.min(index, shown.length - 1));
    [...list.children].forEach((li, i) => li.setAttribute("aria-selected", String(i === active)));
    const current = list.children[active];
    if (current) {
      search.setAttribute("aria-activedescendant", current.id);
      current.scrollIntoView({ block: "nearest" });
      info.replaceChildren(...details(schema, kind, shown[active]));
    } else {
      search.removeAttribute("aria-activedescendant");
      info.replaceChildren(h("p", { class: "muted" }, "No type matches the search."));
    }
  };
  const choose = (type) => { dialog.close(); chosen(type); };
  const filter = () => {
    shown = matching(schema, kind, search.value);
    count.textContent = ` ${shown.length} of ${schema.types(kind).length}`;
    list.replaceChildren(...shown.map((type, i) => h("li", { role: "option", id: `type-option-${i}`,
      "data-type": type, onclick: () => choose(type), onmousemove: () => { if (active !== i) highlight(i); } },
    h("span", { class: "picker-short" }, short(type)), " ",
    h("span", { class: "muted" }, (schema.def(kind, type) || {}).title || type))));
    highlight(0);
  };
  search.addEventListener("input", filter);
  search.addEventListener("keydown", (e) => {
    const step = { ArrowDown: 1, ArrowUp: -1, PageDown: 10, PageUp: -10 }[e.key];
    if (step) { e.preventDefault(); highlight(active + step); }
    else if (e.key === "Enter") { e.preventDefault(); if (shown[active]) choose(shown[active]); }
    else if (e.key === "Escape") { e.preventDefault(); dialog.close(); } // not just clear the search box
  });
  dialog.addEventListener("close", () => dialog.remove()); // Escape (cancel) or a choice
  document.body.append(dialog);
  filter();
  dialog.showModal();
  search.focus();
  return dialog;
}
