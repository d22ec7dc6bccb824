// Composition: `extends` (deep merge, lists replace), ${VAR} / ${VAR:-default}
// interpolation, and paths made relative to the file that wrote them. The
// result keeps, for every key path, where in which file it was written.
import * as path from 'node:path';
import { parse as parseYamlScalar } from 'yaml';
import { type ConfigError, ConfigErrors, formatPath, type PathPart } from '../spec/errors.ts';
import type { Json } from '../spec/experiment.ts';
import { type Position, readSource, type Source } from './yaml-source.ts';

export const MAX_EXTENDS_DEPTH = 8;
/** Keys holding file paths, resolved against the folder of the file that sets them. */
const PATH_KEYS = ['data.path', 'data.validation_path', 'data.test_path', 'model.init_from', 'model.backbone.path'];

export interface Located {
  file: string;
  pos: Position;
}

/** Where each key path was written; later layers (the extending file, --set) win. */
export class Locator {
  constructor(
    private readonly layers: { file: string; keys: Map<string, Position>; values: Map<string, Position> }[],
  ) {}

  /** This locator's layers taking precedence over `other`'s. */
  before(other: Locator): Locator {
    return new Locator([...this.layers, ...other.layers]);
  }

  /** The key (or, for `value`, the value) of `p`, else of its closest ancestor that was written somewhere. */
  locate(p: string, what: 'key' | 'value' = 'value'): Located {
    for (let cur = p; ; cur = parentPath(cur)) {
      for (const l of this.layers) {
        const pos = (what === 'key' ? l.keys : l.values).get(cur) ?? l.values.get(cur);
        if (pos) return { file: l.file, pos };
      }
      if (cur === '') return { file: this.layers.at(-1)?.file ?? '?', pos: { line: 1, col: 1 } };
    }
  }
}

export function parentPath(p: string): string {
  const m = /^(.*?)(?:\.[^.[\]]+|\[\d+\])$/.exec(p);
  return m ? (m[1] as string) : '';
}

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Maps merge key by key, anything else (lists included) is replaced. A map
 * whose `type` changes (an optimizer, a schedule) is replaced whole: the old
 * type's params would not fit the new one.
 */
export function deepMerge(base: Json, over: Json): Json {
  if (isObject(base) && isObject(over) && (over.type === undefined || over.type === base.type)) {
    const out: Record<string, Json> = { ...base };
    for (const [k, v] of Object.entries(over)) out[k] = k in base ? deepMerge(base[k] as Json, v) : v;
    return out;
  }
  return over;
}

const VAR = /\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** Replaces ${VAR} and ${VAR:-default} in every string; `$$` is a literal `$`. */
function interpolate(value: Json, at: PathPart[], env: NodeJS.ProcessEnv, src: Source, errors: ConfigError[]): Json {
  if (typeof value === 'string') {
    if (!value.includes('$')) return value;
    const whole = /^\$\{[^}]+\}$/.test(value);
    const out = value.replace(VAR, (m, name: string | undefined, fallback: string | undefined) => {
      if (m === '$$') return '$';
      const v = env[name as string];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      const p = formatPath(at);
      const pos = src.values.get(p) ?? { line: 1, col: 1 };
      errors.push({
        file: src.file,
        ...pos,
        path: p,
        message: `environment variable ${name} is not set and has no default; set it, or write \${${name}:-<default>}`,
      });
      return m;
    });
    // A value that is one variable takes the type its text has (EPOCHS=25 gives the number 25).
    return whole ? (parseYamlScalar(out) as Json) : out;
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolate(v, [...at, i], env, src, errors));
  if (isObject(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, [...at, k], env, src, errors)]));
  }
  return value;
}

function getPath(obj: Json, p: string): Json | undefined {
  let cur: Json | undefined = obj;
  for (const k of p.split('.')) cur = isObject(cur) ? cur[k] : undefined;
  return cur;
}

function setPath(obj: Json, p: string, v: Json): void {
  const keys = p.split('.');
  let cur = obj as Record<string, Json>;
  for (const k of keys.slice(0, -1)) cur = cur[k] as Record<string, Json>;
  cur[keys.at(-1) as string] = v;
}

export interface Composed {
  value: Record<string, Json>;
  locator: Locator;
  /** Every file read, the experiment first. */
  files: string[];
}

/** Loads `file` and everything it extends, interpolated and merged. */
export function compose(file: string, env: NodeJS.ProcessEnv = process.env, chain: string[] = []): Composed {
  const abs = path.resolve(file);
  const src = readSource(file);
  const errors: ConfigError[] = [];
  const value = interpolate(src.value as Json, [], env, src, errors) as Record<string, Json>;
  if (errors.length) throw new ConfigErrors(errors);
  const sets = getPath(value, 'data.evaluation_sets');
  const setKeys = isObject(sets) ? Object.keys(sets).map((k) => `data.evaluation_sets.${k}`) : [];
  for (const key of [...PATH_KEYS, ...setKeys]) {
    const v = getPath(value, key);
    if (typeof v === 'string' && !path.isAbsolute(v)) setPath(value, key, path.resolve(path.dirname(abs), v));
  }
  const own = { file, keys: src.keys, values: src.values };
  const ext = value.extends;
  delete value.extends;
  if (ext === undefined) return { value, locator: new Locator([own]), files: [file] };

  const bases = Array.isArray(ext) ? ext : [ext];
  let merged: Json = {};
  let locator = new Locator([]);
  const files = [file];
  for (const [i, b] of bases.entries()) {
    const at = Array.isArray(ext) ? `extends[${i}]` : 'extends';
    const pos = src.values.get(at) ?? { line: 1, col: 1 };
    // Annotated so that TypeScript narrows after a call.
    const fail: (message: string) => never = (message) => {
      throw new ConfigErrors([{ file, ...pos, path: at, message }]);
    };
    if (typeof b !== 'string') fail('must be a file path');
    const target = path.resolve(path.dirname(abs), b);
    if ([...chain, abs].includes(target)) {
      fail(`extends cycle: ${[...chain, abs, target].map((f) => path.relative(process.cwd(), f)).join(' -> ')}`);
    }
    if (chain.length + 1 > MAX_EXTENDS_DEPTH) fail(`extends chains may be at most ${MAX_EXTENDS_DEPTH} files deep`);
    let base: Composed;
    try {
      base = compose(path.relative(process.cwd(), target) || target, env, [...chain, abs]);
    } catch (err) {
      if (err instanceof ConfigErrors && err.errors.length === 1 && err.errors[0]?.message === 'no such file') {
        fail(`base file ${b} not found (looked for ${target})`);
      }
      throw err;
    }
    merged = deepMerge(merged, base.value);
    locator = base.locator.before(locator);
    files.push(...base.files);
  }
  return {
    value: deepMerge(merged, value) as Record<string, Json>,
    locator: new Locator([own]).before(locator),
    files,
  };
}
