// Trace comparison for the differential test: normalises the ports of a run out of the entries,
// applies a scenario's declared deviations (checking that each really occurs), formats entries as
// lines and prints a line-by-line diff of two traces.
import { isDeepStrictEqual } from 'node:util';

/** Replaces the run's ports (server, unused) with PORT and UNUSED_PORT in every string of the entries. */
export function normalise(entries, env) {
  const swap = (text) =>
    text
      .replace(new RegExp(`:${env.port}(?!\\d)`, 'g'), ':PORT')
      .replace(new RegExp(`:${env.unusedPort}(?!\\d)`, 'g'), ':UNUSED_PORT');
  return entries.map((entry) =>
    Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, typeof v === 'string' ? swap(v) : v])),
  );
}

// Fields in the order they are printed; any other field follows, sorted.
const ORDER = [
  'key',
  'threw',
  'returned',
  'value',
  'event',
  'handled',
  'this',
  'target',
  'data',
  'blobType',
  'origin',
  'code',
  'reason',
  'wasClean',
  'readyState',
  'bufferedAmount',
  'binaryType',
  'protocol',
  'extensions',
  'url',
];
const SHORT = { readyState: 'rs', bufferedAmount: 'buf', binaryType: 'bt', protocol: 'proto', extensions: 'ext' };

/** One trace entry as one line: `key: field=value ...` (data is already a description, printed as is). */
export function formatEntry(entry) {
  const fields = Object.keys(entry)
    .filter((k) => k !== 'key')
    .sort((a, b) => {
      const [i, j] = [ORDER.indexOf(a), ORDER.indexOf(b)];
      if (i >= 0 && j >= 0) return i - j;
      if (i >= 0 || j >= 0) return i >= 0 ? -1 : 1;
      return a < b ? -1 : 1;
    });
  const parts = fields.map((k) => {
    const v = entry[k];
    if (k === 'threw') return v === null ? '→ ok' : `→ threw ${v}`;
    if (k === 'data' || k === 'event') return k === 'event' ? v : `data=${v}`;
    return `${SHORT[k] ?? k}=${JSON.stringify(v)}`;
  });
  return `${entry.key}: ${parts.join(' ')}`;
}

/**
 * Applies declared differences to copies of the two traces: each must occur exactly as declared
 * (else it is reported as a problem: a deviation that no longer happens, or happens differently),
 * and is then undone in the library trace so that the rest can be compared strictly.
 *   { key, native: {field: value}, library: {field: value} }  fields that differ in that entry
 *   { key, only: 'native' | 'library', fields? }               an entry present in one trace only
 *   { key, after: { native: key, library: key } }             an entry present in both, elsewhere
 */
export function applyDeviations(nativeEntries, libraryEntries, differences) {
  const native = nativeEntries.map((e) => ({ ...e }));
  const library = libraryEntries.map((e) => ({ ...e }));
  const problems = [];
  for (const d of differences) {
    const n = native.findIndex((e) => e.key === d.key);
    const l = library.findIndex((e) => e.key === d.key);
    if (d.after) {
      // Present in both, at another place: right after d.after.native natively, d.after.library in the library.
      const follows = (list, index, prev) => index > 0 && list[index - 1].key === prev;
      if (!follows(native, n, d.after.native) || !follows(library, l, d.after.library)) {
        problems.push(
          `declared: "${d.key}" comes right after "${d.after.native}" natively and after "${d.after.library}" in the library; ` +
            `it comes after "${native[n - 1]?.key}" and "${library[l - 1]?.key}"`,
        );
        continue;
      }
      const [entry] = library.splice(l, 1);
      library.splice(library.findIndex((e) => e.key === d.after.native) + 1, 0, entry);
      continue;
    }
    if (d.only) {
      const [mine, index] = d.only === 'native' ? [native, n] : [library, l];
      const other = d.only === 'native' ? l : n;
      if (index < 0 || other >= 0) {
        problems.push(`declared: "${d.key}" only in the ${d.only} trace; it is ${index < 0 ? 'not there' : 'in both'}`);
        continue;
      }
      for (const [f, v] of Object.entries(d.fields ?? {})) {
        if (!isDeepStrictEqual(mine[index][f], v)) {
          problems.push(`declared: "${d.key}" has ${f}=${JSON.stringify(v)}; it has ${JSON.stringify(mine[index][f])}`);
        }
      }
      mine.splice(index, 1);
      continue;
    }
    if (n < 0 || l < 0) {
      problems.push(
        `declared: a difference in "${d.key}"; the entry is missing from the ${n < 0 ? 'native' : 'library'} trace`,
      );
      continue;
    }
    const fields = new Set([...Object.keys(d.native ?? {}), ...Object.keys(d.library ?? {})]);
    let ok = true;
    for (const f of fields) {
      for (const [side, entry, declared] of [
        ['native', native[n], d.native ?? {}],
        ['library', library[l], d.library ?? {}],
      ]) {
        if (!isDeepStrictEqual(entry[f], declared[f])) {
          ok = false;
          problems.push(
            `declared: "${d.key}" ${f}=${JSON.stringify(declared[f])} in the ${side} trace; it is ${JSON.stringify(entry[f])}`,
          );
        }
      }
    }
    if (!ok) continue;
    for (const f of fields) {
      if (f in native[n]) library[l][f] = native[n][f];
      else delete library[l][f];
    }
  }
  return { native, library, problems };
}

/** Longest-common-subsequence diff of two line arrays: [{ op: ' ' | '-' | '+', line, a, b }]. */
function diffLines(a, b) {
  const m = a.length;
  const n = b.length;
  const lcs = Array.from({ length: m + 1 }, () => new Int32Array(n + 1));
  for (let i = m - 1; i >= 0; i--) {
    for (let j = n - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out = [];
  let i = 0;
  let j = 0;
  while (i < m || j < n) {
    if (i < m && j < n && a[i] === b[j]) out.push({ op: ' ', line: a[i++], a: i, b: ++j });
    else if (j < n && (i === m || lcs[i][j + 1] >= lcs[i + 1][j])) out.push({ op: '+', line: b[j++], b: j });
    else out.push({ op: '-', line: a[i++], a: i });
  }
  return out;
}

/**
 * A readable diff (null when equal): the first step that diverged, then the lines around every
 * change (the first `maxChanged` changed lines), `-` for the native trace and `+` for the library's,
 * numbered in their own trace.
 */
export function traceDiff(nativeLines, libraryLines, label, { context = 2, maxChanged = 40 } = {}) {
  if (isDeepStrictEqual(nativeLines, libraryLines)) return null;
  const ops = diffLines(nativeLines, libraryLines);
  const first = ops.find((o) => o.op !== ' ');
  const keep = new Set();
  ops.forEach((o, k) => {
    if (o.op === ' ') return;
    for (let c = k - context; c <= k + context; c++) keep.add(c);
  });
  const lines = [];
  let last = -1;
  let shown = 0;
  ops.forEach((o, k) => {
    if (!keep.has(k)) return;
    if (o.op !== ' ' && ++shown > maxChanged) return;
    if (last >= 0 && k > last + 1) lines.push('      ...');
    last = k;
    const at = String(o.op === '+' ? o.b : o.a).padStart(3);
    lines.push(`  ${o.op} ${at}  ${o.line}`);
  });
  if (shown > maxChanged) lines.push(`      ... and ${shown - maxChanged} more differing lines`);
  const step = first.line.split(': ')[0];
  return [
    `${label}: trace differs from native, first at step "${step}" (- native, + ${label.split(' ').pop()})`,
    ...lines,
  ].join('\n');
}
