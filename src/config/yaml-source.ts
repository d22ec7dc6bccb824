// Reads one YAML file into plain data plus the line and column of every key and
// value, with no custom tags and no code execution (the yaml package's core
// schema: strings, numbers, booleans, null, maps and lists only).
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from 'yaml';
import { type ConfigError, ConfigErrors, formatPath, type PathPart } from '../spec/errors.ts';

export interface Position {
  line: number;
  col: number;
}

export interface Source {
  file: string;
  value: unknown;
  /** Where the key of a path starts (for "unknown key" errors). */
  keys: Map<string, Position>;
  /** Where the value of a path starts (for "wrong value" errors). */
  values: Map<string, Position>;
}

function walk(node: unknown, path: PathPart[], pos: (offset: number) => Position, src: Source): void {
  if (isMap(node)) {
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      const child = [...path, key];
      const p = formatPath(child);
      const keyNode = pair.key as Node | null;
      if (keyNode?.range) src.keys.set(p, pos(keyNode.range[0]));
      const valueNode = pair.value as Node | null;
      src.values.set(p, valueNode?.range ? pos(valueNode.range[0]) : (src.keys.get(p) ?? { line: 1, col: 1 }));
      walk(pair.value, child, pos, src);
    }
  } else if (isSeq(node)) {
    node.items.forEach((item, i) => {
      const child = [...path, i];
      const range = (item as Node | null)?.range;
      if (range) {
        const p = formatPath(child);
        src.keys.set(p, pos(range[0]));
        src.values.set(p, pos(range[0]));
      }
      walk(item, child, pos, src);
    });
  }
}

/** Parses YAML text; throws ConfigErrors for anything that is not a plain YAML mapping. */
export function parseSource(file: string, text: string): Source {
  const fail = (line: number, col: number, message: string): never => {
    throw new ConfigErrors([{ file, line, col, path: '', message }]);
  };
  if (text.includes('\u0000') || text.includes('\uFFFD')) {
    fail(1, 1, 'not a text file (binary or not UTF-8); an experiment is a YAML text file');
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, schema: 'core', customTags: [] });
  // Unknown tags (!!js/function, !python/object, ...) are only warnings to the parser; here they are errors.
  const problems = [...doc.errors, ...doc.warnings.filter((w) => w.code === 'TAG_RESOLVE_FAILED')];
  if (problems.length > 0) {
    const errors: ConfigError[] = problems.map((e) => {
      const at = e.linePos?.[0] ?? { line: 1, col: 1 };
      const first = e.message.split('\n')[0] ?? e.message;
      const message = /tab/i.test(first)
        ? 'tabs are not allowed for indentation in YAML; indent with spaces'
        : e.code === 'TAG_RESOLVE_FAILED'
          ? `custom YAML tags are not allowed (${first.replace(/^Unresolved tag: /, '').replace(/ at line \d+, column \d+:?$/, '')}); write plain values`
          : e.code === 'DUPLICATE_KEY'
            ? `duplicate key: ${first.replace(/^Map keys must be unique.*$/, 'each key may appear once in a mapping')}`
            : `invalid YAML: ${first.replace(/ at line \d+, column \d+:?$/, '')}`;
      return { file, line: at.line, col: at.col, path: '', message };
    });
    // After the first syntax error the parser's view of the rest is unreliable:
    // later errors are mostly its consequences. A tab is the likeliest cause.
    const tab = errors.find((e) => e.message.startsWith('tabs'));
    throw new ConfigErrors([tab ?? (errors[0] as ConfigError)]);
  }
  let value: unknown;
  try {
    // A bounded alias count stops "billion laughs" expansion.
    value = doc.toJS({ maxAliasCount: 100 }) as unknown;
  } catch (err) {
    fail(1, 1, `invalid YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (value === null || value === undefined)
    fail(1, 1, 'the file is empty; an experiment needs at least name, data and model');
  if (typeof value !== 'object' || Array.isArray(value)) {
    fail(
      1,
      1,
      `an experiment is a YAML mapping of keys (name, data, model, ...), not a ${Array.isArray(value) ? 'list' : typeof value}`,
    );
  }
  const src: Source = { file, value, keys: new Map(), values: new Map() };
  walk(doc.contents, [], (offset) => lineCounter.linePos(offset), src);
  return src;
}

export function readSource(file: string): Source {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigErrors([
      {
        file,
        line: 1,
        col: 1,
        path: '',
        message:
          code === 'ENOENT'
            ? 'no such file'
            : code === 'EISDIR'
              ? 'is a folder, not a YAML file'
              : `cannot read: ${code}`,
      },
    ]);
  }
  return parseSource(file, text);
}
