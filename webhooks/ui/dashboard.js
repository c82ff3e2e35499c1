// The dashboard: the last DAYS days of executions (live and recorded, GET
// /api/v1/executions/search) as totals, a stacked bar chart of runs per day by state, a
// doughnut of states and each flow's mean duration per day (chart.js, dist/charts.js, loaded
// on the first visit), the flows that failed most, the latest failures with the task that
// failed and the next scheduled runs (dashlists.js). Refreshed every REFRESH_MS.
import { api, cleanups, enc, every, h, show, state } from "./common.js";
import { durationTrends, failuresTable, nextRunsTable } from "./dashlists.js";

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

// everything the page shows, asked at once
async function load() {
  const [rows, failures, overview] = await Promise.all([api("GET", "/api/v1/executions/search?limit=500"),
    api("GET", "/api/v1/dashboard/failures"), api("GET", "/api/v1/flows/overview")]);
  return { rows: rows.results, failures: failures.results, overview };
}

function drawCharts(Chart, canvases, s, trends) {
  const base = { animation: false, maintainAspectRatio: false };
  const bars = new Chart(canvases.byDay, { type: "bar", options: { ...base,
    scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } },
  data: { labels: s.days.map((d) => d.slice(5)), datasets: SHOWN.map((name) => ({ label: name, data: s.perDay[name],
    backgroundColor: COLOURS[name] })) } });
  const ring = new Chart(canvases.byState, { type: "doughnut", options: base,
    data: { labels: SHOWN, datasets: [{ data: SHOWN.map((n) => s.totals[n]), backgroundColor: SHOWN.map((n) => COLOURS[n]) }] } });
  const lines = new Chart(canvases.durations, { type: "line", options: { ...base,
    scales: { y: { beginAtZero: true, title: { display: true, text: "mean seconds" } } } },
  data: { labels: s.days.map((d) => d.slice(5)), datasets: trends } });
  cleanups.push(() => { bars.destroy(); ring.destroy(); lines.destroy(); });
  return { bars, ring, lines };
}

export async function dashboardPage() {
  const first = await load();
  const { Chart } = await charts();
  const canvas = (id, label) => h("canvas", { id, "aria-label": label, role: "img" });
  const canvases = { byDay: canvas("chart-days", "Executions per day by state"), byState: canvas("chart-states", "Executions by state"),
    durations: canvas("chart-durations", "Mean duration per day of each flow") };
  const [head, failing, failures, next] = [h("div", {}), h("div", {}), h("div", {}), h("div", {})];
  const empty = h("p", { class: "empty", id: "dashboard-empty", hidden: true }, "No execution in these days yet. Open a flow on the ",
    h("a", { href: "#/flows" }, "Flows"), " page and click Execute.");
  show(h("h1", {}, "Dashboard"), head, empty, h("div", { class: "charts" },
    h("div", { class: "chart chart-wide" }, canvases.byDay), h("div", { class: "chart" }, canvases.byState)),
  h("h2", {}, "Duration trends"), h("div", { class: "chart chart-line" }, canvases.durations),
  h("div", { class: "dash-lists" }, h("section", {}, h("h2", {}, "Latest failures"), failures),
    h("section", {}, h("h2", {}, "Next scheduled runs"), next)),
  h("h2", {}, "Flows that failed most"), failing);
  const s = summarise(first.rows, Date.now());
  const drawn = drawCharts(Chart, canvases, s, durationTrends(first.rows, s.days));
  const paint = (data) => {
    const now = summarise(data.rows, Date.now());
    head.replaceChildren(tiles(now));
    failing.replaceChildren(failingTable(now));
    failures.replaceChildren(failuresTable(data.failures));
    next.replaceChildren(nextRunsTable(data.overview));
    empty.hidden = Object.values(now.totals).some(Boolean);
    SHOWN.forEach((name, i) => { drawn.bars.data.datasets[i].data = now.perDay[name]; });
    drawn.ring.data.datasets[0].data = SHOWN.map((n) => now.totals[n]);
    drawn.lines.data.datasets = durationTrends(data.rows, now.days);
    Object.values(drawn).forEach((chart) => chart.update());
  };
  paint(first);
  every(REFRESH_MS, async () => { try { paint(await load()); } catch { /* next round */ } });
}
