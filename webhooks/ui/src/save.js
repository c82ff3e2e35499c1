// Saving the edited flow as a git commit (PUT …/source), with the branch selector, commit
// message and optional new branch; a 409 (someone pushed meanwhile) shows their version and
// offers "reload theirs" or "overwrite with mine onto theirs"; deleting asks first.
import { h, api, enc, ApiError } from "./dom.js";

function diagnosticsList(found) {
  return h("ul", { class: "diagnostics" }, (found || []).map((d) => h("li", { class: d.severity, "data-code": d.code },
    h("code", {}, `${d.line}:${d.column}`), " ", h("strong", {}, `${d.severity} ${d.code}`), `: ${d.message}`)));
}

// state: {repo, branch, base, file, namespace, id}; editor: {getText, setText}
// hooks: {saved(result), reloaded(source, head)}
export function savePanel(state, editor, hooks) {
  const branches = state.branches && state.branches.length ? state.branches : [state.branch];
  const branch = h("select", { id: "save-branch", title: "Branch to commit to" },
    branches.map((b) => h("option", { value: b, selected: b === state.branch }, b)));
  const newBranch = h("input", { id: "save-new-branch", placeholder: "new branch (optional)", size: 18 });
  const message = h("input", { id: "save-message", placeholder: `Update ${state.file}`, size: 28 });
  const status = h("div", { id: "save-status", class: "save-status" });
  const conflict = h("div", { id: "conflict", class: "conflict", hidden: true });
  const saveButton = h("button", { type: "button", class: "primary", id: "save-button" }, "Save");
  const deleteButton = h("button", { type: "button", id: "delete-button", class: "danger" }, "Delete flow");

  const put = async (base) => {
    const body = { repo: state.repo, branch: branch.value, base, source: editor.getText(),
      message: message.value || `Update ${state.file}`, file: state.file };
    if (newBranch.value.trim()) body.new_branch = newBranch.value.trim();
    const { namespace, id } = hooks.named ? hooks.named() : state;
    if (!namespace || !id) {
      status.replaceChildren(h("div", { class: "error" }, "The YAML needs an id and a namespace to be saved."));
      return;
    }
    status.replaceChildren(h("span", { class: "muted" }, "Saving…"));
    conflict.hidden = true;
    try {
      const result = await api("PUT", `/api/v1/flows/${enc(namespace)}/${enc(id)}/source`, body);
      state.base = result.commit;
      state.branch = result.branch || body.new_branch || body.branch;
      if (![...branch.options].some((o) => o.value === state.branch)) branch.append(h("option", { value: state.branch }, state.branch));
      branch.value = state.branch;
      newBranch.value = "";
      message.value = "";
      status.replaceChildren(h("span", { class: "ok", id: "saved" }, "Saved ", h("code", {}, String(result.commit).slice(0, 10)),
        ` on ${state.branch}`));
      hooks.saved(result);
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && err.data) showConflict(err.data);
      else if (err instanceof ApiError && err.status === 422 && err.data) {
        status.replaceChildren(h("div", { class: "error" }, err.message), diagnosticsList(err.data.diagnostics));
      } else status.replaceChildren(h("div", { class: "error" }, err.message));
    }
  };

  const showConflict = (data) => {
    status.replaceChildren(h("div", { class: "error" }, data.message || "The branch moved since this flow was loaded."));
    conflict.replaceChildren(
      h("p", {}, "Their version at ", h("code", {}, String(data.head || "").slice(0, 10)), ":"),
      h("pre", { class: "theirs", id: "theirs" }, data.source ?? "(the flow was deleted there)"),
      h("button", { type: "button", id: "reload-theirs", onclick: () => {
        if (typeof data.source === "string") editor.setText(data.source, true);
        state.base = data.head;
        conflict.hidden = true;
        status.replaceChildren(h("span", { class: "muted" }, "Reloaded their version."));
        hooks.reloaded(data.source, data.head);
      } }, "Reload theirs"),
      h("button", { type: "button", id: "overwrite-mine", class: "primary", onclick: () => put(data.head) },
        "Overwrite with mine onto theirs"));
    conflict.hidden = false;
  };

  saveButton.addEventListener("click", () => put(state.base));
  deleteButton.addEventListener("click", async () => {
    if (!window.confirm(`Delete ${state.file} from ${branch.value}? This commits its removal.`)) return;
    const q = new URLSearchParams({ repo: state.repo, branch: branch.value, base: state.base, file: state.file });
    // a file that does not parse is found by its path; its names may be missing ("-")
    const { namespace, id } = hooks.named ? hooks.named() : state;
    try {
      await api("DELETE", `/api/v1/flows/${enc(namespace || "-")}/${enc(id || "-")}?${q}`);
      location.hash = "#/flows";
    } catch (err) {
      if (err instanceof ApiError && err.status === 409 && err.data) showConflict(err.data);
      else status.replaceChildren(h("div", { class: "error" }, err.message));
    }
  });
  return h("div", { class: "save-panel", id: "save-panel" },
    h("label", {}, "Branch ", branch), newBranch, message, saveButton, deleteButton, status, conflict);
}

const TEMPLATE = (namespace, id) => `id: ${id}
namespace: ${namespace}
tasks:
  - id: hello
    type: io.kestra.plugin.core.log.Log
    message: Hello from ${id}
`;

// "New flow" on the flows page: POST /api/v1/flows, then open the new flow.
// repos: {name: the branch it is served from}
export function newFlowForm(repos) {
  const names = Object.keys(repos).sort();
  const repo = h("select", { id: "new-repo" }, names.map((r) => h("option", { value: r }, r)));
  const namespace = h("input", { id: "new-namespace", placeholder: "namespace", required: true, pattern: "[a-z0-9][a-z0-9_.\\-]*" });
  const id = h("input", { id: "new-id", placeholder: "flow id", required: true, pattern: "[A-Za-z0-9][A-Za-z0-9_\\-]*" });
  const branch = h("input", { id: "new-branch", placeholder: "branch", required: true, value: repos[names[0]] || "main" });
  repo.addEventListener("change", () => { branch.value = repos[repo.value] || branch.value; });
  const status = h("span", { class: "error", id: "new-status" });
  const form = h("form", { class: "new-flow", id: "new-flow" }, names.length > 1 ? repo : null, namespace, id, branch,
    h("button", { type: "submit", class: "primary", id: "new-create" }, "Create flow"), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { namespace: namespace.value, id: id.value, branch: branch.value,
      source: TEMPLATE(namespace.value, id.value), message: `Add flow ${namespace.value}.${id.value}` };
    if (names.length) body.repo = repo.value || names[0];
    try {
      const made = await api("POST", "/api/v1/flows", body);
      const q = new URLSearchParams({ repo: made.repo, ref: made.branch });
      location.hash = `#/flows/${enc(namespace.value)}/${enc(id.value)}?${q}`;
    } catch (err) { status.textContent = err.message; }
  });
  return form;
}
