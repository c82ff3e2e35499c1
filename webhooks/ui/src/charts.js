// Entry of dist/charts.js, loaded by the dashboard page only: chart.js with the parts the
// dashboard draws (stacked bars by day, a doughnut of states), as window.gitflowsCharts.
import {
  ArcElement, BarController, BarElement, CategoryScale, Chart, DoughnutController, Legend, LinearScale, Tooltip,
} from "chart.js";

Chart.register(ArcElement, BarController, BarElement, CategoryScale, DoughnutController, Legend, LinearScale, Tooltip);
window.gitflowsCharts = { Chart };
