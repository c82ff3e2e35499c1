// Completion in the YAML editor: task/trigger type names after `type:`, and property names
// of the mapping the cursor is in. The mapping is found from the indentation of the lines
// around the cursor, so it works on text that does not parse yet (half-typed keys).
const KEY = /^( *)(- +)?([\w.-]+):(?:\s+(.*?))?\s*$/;

// The `type:` value and the keys of the mapping whose keys start at column `col` around line `at`.
function mappingAt(lines, at, col) {
  const keys = new Set();
  let type = null;
  const scan = (from, step) => {
    for (let i = from; i >= 0 && i < lines.length; i += step) {
      const text = lines[i];
      if (!text.trim() || /^\s*#/.test(text)) continue;
      const indent = text.search(/\S/);
      const m = KEY.exec(text);
      const keyCol = m ? m[1].length + (m[2] ? m[2].length : 0) : indent;
      if (m && keyCol === col) {
        keys.add(m[3]);
        if (m[3] === "type" && m[4]) type = m[4].replace(/^["']|["']$/g, "");
        if (m[2]) return; // the "- " line: the mapping starts here
      } else if (indent < col) return; // left the mapping
    }
  };
  scan(at - 1, -1);
  // below the cursor: until the mapping ends or the next list item starts
  for (let i = at + 1; i < lines.length; i++) {
    const text = lines[i];
    if (!text.trim() || /^\s*#/.test(text)) continue;
    const indent = text.search(/\S/);
    if (indent < col) break;
    const m = KEY.exec(text);
    if (m && !m[2] && m[1].length === col) {
      keys.add(m[3]);
      if (m[3] === "type" && m[4]) type = m[4].replace(/^["']|["']$/g, "");
    }
  }
  return { type, keys };
}

// schema: Schema (form.js); text: the editor's text; pos: the cursor offset
export function completeAt(schema, text, pos) {
  const lineStart = text.lastIndexOf("\n", pos - 1) + 1;
  const before = text.slice(lineStart, pos);
  const typed = /\btype:\s*([\w.]*)$/.exec(before);
  if (typed) {
    const types = Object.keys(schema.defs).filter((k) => /^(task|trigger):/.test(k));
    return { from: pos - typed[1].length, always: true, options: types.map((k) => ({
      label: k.replace(/^\w+:/, ""), detail: schema.defs[k].title || k.split(":")[0], type: "type" })) };
  }
  const key = /^( *)(- +)?([A-Za-z]*)$/.exec(before);
  if (!key) return null;
  const col = key[1].length + (key[2] ? key[2].length : 0);
  const lines = text.split("\n");
  const at = text.slice(0, lineStart).split("\n").length - 1;
  let def;
  let present = new Set();
  if (col === 0) def = schema.json;
  else {
    const found = key[2] ? { type: null, keys: new Set() } : mappingAt(lines, at, col);
    def = found.type ? schema.task(found.type) || schema.defs[`trigger:${found.type}`] : null;
    present = found.keys;
    if (!def && key[2]) return { from: pos - key[3].length, options: [{ label: "id", apply: "id: ", type: "property" }] };
  }
  if (!def || !def.properties) return null;
  const required = new Set(def.required || []);
  return { from: pos - key[3].length, options: Object.keys(def.properties).filter((p) => !present.has(p))
    .map((p) => ({ label: p, type: "property", apply: `${p}: `, detail: required.has(p) ? "required" : "",
      boost: required.has(p) ? 1 : 0 })) };
}
