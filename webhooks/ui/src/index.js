// Entry of the bundle (dist/editor.js): what app.js calls for the pages that need more than
// plain DOM code.
import { api, h, headers, token } from "./dom.js";
import { mountFlowPage, loadSchema } from "./flowpage.js";
import { gantt, taskRunsTable } from "./gantt.js";
import { runForm } from "./runform.js";
import { newFlowForm } from "./save.js";
import { paintTopology, topology } from "./topology.js";

token(); // take a ?token= from the address before anything asks the API
window.gitflowsUI = { api, h, headers, mountFlowPage, loadSchema, gantt, taskRunsTable, runForm, newFlowForm,
  topology, paintTopology };
