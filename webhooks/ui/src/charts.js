// Entry of dist/charts.js, loaded by the dashboard page only: chart.js with the parts the
// dashboard draws (stacked bars by day, a doughnut of states, duration lines), as window.gitflowsCharts.
import {
  ArcElement, BarController, BarElement, CategoryScale, Chart, DoughnutController, Legend, LinearScale, LineController,
  LineElement, PointElement, Tooltip,
} from "chart.js";

Chart.register(ArcElement, BarController, BarElement, CategoryScale, DoughnutController, Legend, LinearScale,
  LineController, LineElement, PointElement, Tooltip);
window.gitflowsCharts = { Chart };
