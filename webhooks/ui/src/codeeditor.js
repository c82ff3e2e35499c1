// The YAML side: CodeMirror 6 with YAML highlighting, completion of task types and property
// names from the server's JSON schema, and inline diagnostics from POST /api/v1/flows/validate.
import { EditorState } from "@codemirror/state";
import { EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter, drawSelection } from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { syntaxHighlighting, defaultHighlightStyle, indentOnInput, bracketMatching } from "@codemirror/language";
import { autocompletion, completionKeymap } from "@codemirror/autocomplete";
import { linter, lintGutter, lintKeymap } from "@codemirror/lint";
import { yaml } from "@codemirror/lang-yaml";
import { minimalChange } from "./merge.js";

// complete(pos) → {from, options: [{label, detail}]} | null
// lint(text) → Promise<[{line, column, severity, code, message}]>
export function createEditor(parent, text, { onChange, lint, complete }) {
  let quiet = false; // set while the graph writes the text: no echo back to the graph
  const source = async (view) => {
    const doc = view.state.doc;
    const found = await lint(doc.toString());
    if (found === null || view.state.doc !== doc) return [];
    return found.map((d) => {
      const line = doc.line(Math.min(Math.max(d.line || 1, 1), doc.lines));
      const from = Math.min(line.from + Math.max((d.column || 1) - 1, 0), line.to);
      return { from, to: line.to > from ? line.to : from, severity: d.severity === "error" ? "error" : "warning",
        source: d.code, message: d.message };
    });
  };
  const completions = (context) => {
    const found = complete(context.pos);
    if (!found || (!context.explicit && found.from === context.pos && !found.always)) return null;
    return { from: found.from, options: found.options, validFor: /^[\w.]*$/ };
  };
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(), highlightActiveLineGutter(), highlightActiveLine(), history(), drawSelection(),
        indentOnInput(), bracketMatching(), syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        yaml(), EditorState.tabSize.of(2),
        autocompletion({ override: [completions] }),
        linter(source, { delay: 300 }), lintGutter(),
        keymap.of([indentWithTab, ...defaultKeymap, ...historyKeymap, ...completionKeymap, ...lintKeymap]),
        EditorView.updateListener.of((update) => { if (update.docChanged && !quiet) onChange(update.state.doc.toString()); }),
      ],
    }),
  });
  return {
    view,
    getText: () => view.state.doc.toString(),
    // Replace the text with the smallest change (keeps the cursor and scroll where they were).
    setText(next, echo = false) {
      const change = minimalChange(view.state.doc.toString(), next);
      if (change.from === change.to && change.insert === "") return;
      quiet = !echo;
      try { view.dispatch({ changes: change }); } finally { quiet = false; }
    },
  };
}
