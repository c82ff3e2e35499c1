// Keep the user's formatting through a visual edit. The yaml Document API keeps comments, but
// re-stringifying a whole document may still normalise things it does not model (blank lines
// inside block scalars, spacing). So an edit is carried over as a line diff: base = the
// untouched document re-stringified, edited = the document after the edit re-stringified;
// the hunks base→edited are applied to the original text wherever base and original agree.

// Longest-common-subsequence matching of two line arrays: match[i] = j (a[i] == b[j]) or -1.
function matchLines(a, b) {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  const match = new Array(a.length).fill(-1);
  for (let i = 0; i < start; i++) match[i] = i;
  for (let i = endA, j = endB; i < a.length; i++, j++) match[i] = j;
  const n = endA - start;
  const m = endB - start;
  if (n && m) {
    // Only the differing middle needs the quadratic table; flows are small.
    const table = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1));
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        table[i][j] = a[start + i] === b[start + j] ? table[i + 1][j + 1] + 1
          : Math.max(table[i + 1][j], table[i][j + 1]);
      }
    }
    for (let i = 0, j = 0; i < n && j < m;) {
      if (a[start + i] === b[start + j]) { match[start + i] = start + j; i++; j++; }
      else if (table[i + 1][j] >= table[i][j + 1]) i++;
      else j++;
    }
  }
  return match;
}

// Hunks turning a into b: {from, to, lines} replaces a[from:to] with lines.
function hunks(a, b) {
  const match = matchLines(a, b);
  const found = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && match[i] === j) { i++; j++; continue; }
    const from = i;
    while (i < a.length && match[i] === -1) i++;
    const next = i < a.length ? match[i] : b.length;
    found.push({ from, to: i, lines: b.slice(j, next) });
    j = next;
  }
  return found;
}

// The original text with the base→edited change applied, or null when a hunk touches lines
// that the original formats differently (the caller then takes the edited text as it is).
export function carryOver(original, base, edited) {
  if (original === base) return edited;
  const orig = original.split("\n");
  const baseLines = base.split("\n");
  const toOrig = matchLines(baseLines, orig);
  const out = orig.slice();
  const changes = [];
  for (const hunk of hunks(baseLines, edited.split("\n"))) {
    let at;
    let end;
    if (hunk.from === hunk.to) {
      // an insertion: before the original line matching the next base line
      if (hunk.from < baseLines.length && toOrig[hunk.from] !== -1) at = toOrig[hunk.from];
      else if (hunk.from > 0 && toOrig[hunk.from - 1] !== -1) at = toOrig[hunk.from - 1] + 1;
      else return null;
      end = at;
    } else {
      for (let k = hunk.from; k < hunk.to; k++) if (toOrig[k] === -1) return null;
      at = toOrig[hunk.from];
      end = toOrig[hunk.to - 1] + 1;
    }
    changes.push({ at, end, lines: hunk.lines });
  }
  for (const change of changes.reverse()) out.splice(change.at, change.end - change.at, ...change.lines);
  return out.join("\n");
}

// The smallest single replacement turning a into b (for a CodeMirror transaction).
export function minimalChange(a, b) {
  let from = 0;
  while (from < a.length && from < b.length && a[from] === b[from]) from++;
  let endA = a.length;
  let endB = b.length;
  while (endA > from && endB > from && a[endA - 1] === b[endB - 1]) { endA--; endB--; }
  return { from, to: endA, insert: b.slice(from, endB) };
}
