// The dashboard: the last DAYS days of executions (live and recorded, GET
// /api/v1/executions/search) as totals, a stacked bar chart of runs per day by state and a
// doughnut of states (chart.js, dist/charts.js, loaded on the first visit), and the flows that
// failed most. Refreshed every REFRESH_MS.
import { api, cleanups, enc, every, h, show, state } from "./common.js";

const DAYS = 14;
const REFRESH_MS = 5000;
const SHOWN = ["SUCCESS", "WARNING", "FAILED", "KILLED", "RUNNING"];
const COLOURS = { SUCCESS: "#2da44e", WARNING: "#bf8700", FAILED: "#cf222e", KILLED: "#8250df", RUNNING: "#0969da" };
let loading = null;

function charts() { // dist/charts.js, once (a same-origin script: the CSP allows it)
  loading = loading || new Promise((resolve, reject) => {
    const script = h("script", { src: "/ui/static/dist/charts.js" });
    script.addEventListener("load", () => resolve(window.gitflowsCharts));
    script.addEventListener("error", () => { loading = null; reject(new Error("charts.js did not load")); });
    document.head.append(script);
  });
  return loading;
}

const day = (iso) => (iso || "").slice(0, 10);
const bucket = (s) => (SHOWN.includes(s) ? s : ["CREATED", "QUEUED", "PAUSED"].includes(s) ? "RUNNING" : "FAILED");

function summarise(rows, now) {
  const days = [...Array(DAYS)].map((_, i) => day(new Date(now - (DAYS - 1 - i) * 86400000).toISOString()));
  const perDay = Object.fromEntries(SHOWN.map((s) => [s, days.map(() => 0)]));
  const totals = Object.fromEntries(SHOWN.map((s) => [s, 0]));
  const failing = {};
  for (const row of rows) {
    const at = days.indexOf(day(row.startDate));
    if (at < 0) continue;
    const b = bucket(row.state);
    perDay[b][at] += 1;
    totals[b] += 1;
    if (b === "FAILED" || b === "KILLED") failing[row.flow] = (failing[row.flow] || 0) + 1;
  }
  return { days, perDay, totals, failing };
}

function tiles(s) {
  const total = Object.values(s.totals).reduce((a, b) => a + b, 0);
  const ended = total - s.totals.RUNNING;
  const rate = ended ? `${Math.round((100 * (s.totals.SUCCESS + s.totals.WARNING)) / ended)}%` : "–";
  const tile = (label, value, id) => h("div", { class: "tile", id }, h("div", { class: "tile-value" }, String(value)),
    h("div", { class: "muted small" }, label));
  return h("div", { class: "tiles" }, tile(`executions, last ${DAYS} days`, total, "tile-total"),
    tile("succeeded (of those ended)", rate, "tile-rate"), tile("failed or killed", s.totals.FAILED + s.totals.KILLED, "tile-failed"),
    tile("running or waiting", s.totals.RUNNING, "tile-running"));
}

function failingTable(s) {
  const worst = Object.entries(s.failing).sort((a, b) => b[1] - a[1]).slice(0, 8);
  if (!worst.length) return h("p", { class: "muted", id: "failing-none" }, "No flow failed in these days.");
  return h("table", { id: "failing" }, h("thead", {}, h("tr", {}, h("th", {}, "Flow"), h("th", {}, "Failed or killed"))),
    h("tbody", {}, worst.map(([flow, n]) => h("tr", { "data-flow": flow },
      h("td", {}, h("a", { href: `#/executions?flow=${enc(flow)}&state=FAILED` }, flow)), h("td", {}, state("FAILED"), ` ${n}`)))));
}

export async function dashboardPage() {
  const load = async () => (await api("GET", "/api/v1/executions/search?limit=500")).results;
  const rows = await load();
  const { Chart } = await charts();
  const byDay = h("canvas", { id: "chart-days", "aria-label": "Executions per day by state", role: "img" });
  const byState = h("canvas", { id: "chart-states", "aria-label": "Executions by state", role: "img" });
  const head = h("div", {});
  const failing = h("div", {});
  const empty = h("p", { class: "empty", id: "dashboard-empty", hidden: true }, "No execution in these days yet. Open a flow on the ",
    h("a", { href: "#/flows" }, "Flows"), " page and click Execute.");
  show(h("h1", {}, "Dashboard"), head, empty, h("div", { class: "charts" },
    h("div", { class: "chart chart-wide" }, byDay), h("div", { class: "chart" }, byState)),
  h("h2", {}, "Flows that failed most"), failing);
  const s = summarise(rows, Date.now());
  const bars = new Chart(byDay, { type: "bar", options: { animation: false, maintainAspectRatio: false,
    scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
  data: { labels: s.days.map((d) => d.slice(5)), datasets: SHOWN.map((name) => ({ label: name, data: s.perDay[name],
    backgroundColor: COLOURS[name] })) } });
  const ring = new Chart(byState, { type: "doughnut", options: { animation: false, maintainAspectRatio: false },
    data: { labels: SHOWN, datasets: [{ data: SHOWN.map((n) => s.totals[n]), backgroundColor: SHOWN.map((n) => COLOURS[n]) }] } });
  cleanups.push(() => { bars.destroy(); ring.destroy(); });
  const paint = (now) => {
    head.replaceChildren(tiles(now));
    failing.replaceChildren(failingTable(now));
    empty.hidden = Object.values(now.totals).some(Boolean);
    SHOWN.forEach((name, i) => { bars.data.datasets[i].data = now.perDay[name]; });
    ring.data.datasets[0].data = SHOWN.map((n) => now.totals[n]);
    bars.update();
    ring.update();
  };
  paint(s);
  every(REFRESH_MS, async () => { try { paint(summarise(await load(), Date.now())); } catch { /* next round */ } });
}
