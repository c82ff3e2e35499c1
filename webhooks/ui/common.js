// Helpers every page of the UI uses. Plain JavaScript modules, no build step; the editor
// bundle (dist/editor.js, window.gitflowsUI) is loaded before them.
// Every text from the server goes through text nodes (h, from the bundle): never innerHTML.

export const UI = window.gitflowsUI;
export const TERMINAL = new Set(["SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED", "SKIPPED", "RETRIED"]);
export const STATES = ["CREATED", "QUEUED", "RUNNING", "PAUSED", "SUCCESS", "WARNING", "FAILED", "KILLED", "CANCELLED"];
export const cleanups = []; // timers and streams of the current page, stopped on navigation

// the bundle's DOM builder and JSON API call (token, CSRF header, errors with `.status`)
export const { h, api } = UI;

export function state(name) { return h("span", { class: `state state-${name}` }, name); }
export const enc = encodeURIComponent;
export function when(iso) { return iso ? new Date(iso).toLocaleString() : ""; }
export function secondsBetween(a, b) {
  if (!a) return "";
  const ms = (b ? new Date(b) : new Date()) - new Date(a);
  return `${(ms / 1000).toFixed(1)}s`;
}
export function duration(iso) { // ISO 8601 (PT1H2M3.5S) → "1h 2m 3.5s"
  const m = /^PT(?:(\d+)H)?(?:(\d+)M)?(?:([\d.]+)S)?$/.exec(iso || "");
  if (!m) return iso || "";
  return [m[1] && `${m[1]}h`, m[2] && `${m[2]}m`, m[3] && `${parseFloat(m[3]).toFixed(m[1] || m[2] ? 0 : 2)}s`]
    .filter(Boolean).join(" ") || "0s";
}
export function millis(ms) { return ms == null ? "" : `${(ms / 1000).toFixed(1)}s`; }

// "in 5h 12m" / "3m ago": the distance from now, two units at most
export function relative(iso, now = Date.now()) {
  const ms = new Date(iso).getTime() - now;
  let s = Math.round(Math.abs(ms) / 1000);
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (s >= size || (unit === "s" && !parts.length)) { parts.push(`${Math.floor(s / size)}${unit}`); s %= size; }
    if (parts.length === 2) break;
  }
  return ms >= 0 ? `in ${parts.join(" ")}` : `${parts.join(" ")} ago`;
}

// a time shown in a named time zone (the trigger's), e.g. "Nov 27, 2026, 03:00 Europe/Paris"
export function inZone(iso, zone) {
  try {
    return `${new Intl.DateTimeFormat(undefined, { timeZone: zone, dateStyle: "medium", timeStyle: "short" })
      .format(new Date(iso))} ${zone}`;
  } catch { return new Date(iso).toLocaleString(); }
}

export function every(ms, fn) { const t = setInterval(fn, ms); cleanups.push(() => clearInterval(t)); }
export function show(...nodes) { document.getElementById("app").replaceChildren(...nodes); }
export function failure(err) { return h("p", { class: "error" }, String(err.message || err)); }

// a <select> of values ("" first: any), selecting `current`
export function select(id, values, current, anyLabel, label = (v) => v) {
  return h("select", { id, name: id }, ["", ...values].map((v) =>
    h("option", v === (current || "") ? { value: v, selected: true } : { value: v }, v ? label(v) : anyLabel)));
}

// the page's filters live in the address (#/page?k=v): shareable, and kept on reload
export function setQuery(page, values) {
  // a late answer of a page left already (a refetch under way) must not take the address back
  const current = (location.hash || "#/flows").slice(2).split("?")[0];
  if (current !== page) return;
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(values)) if (v) q.set(k, v);
  const next = `#/${page}${q.toString() ? `?${q}` : ""}`;
  if (location.hash !== next) history.replaceState(null, "", next);
}
