// Command-line overrides: `--set training.optimizer.lr=0.05`, `--set model.layers[2].filters=64`.
// Values are read as YAML (numbers, booleans, lists) and then typed by the schema
// (`--set name=123` stays the string "123").
import { parse as parseYaml } from 'yaml';
import { ConfigErrors, didYouMean, formatPath, type PathPart } from '../spec/errors.ts';
import type { Json } from '../spec/experiment.ts';

type Schema = Record<string, unknown>;

export interface Override {
  arg: string;
  path: PathPart[];
  value: Json;
}

function fail(arg: string, path: string, message: string): never {
  throw new ConfigErrors([{ file: `--set ${arg}`, line: 1, col: 1, path, message }]);
}

export function parsePath(text: string): PathPart[] | null {
  const parts: PathPart[] = [];
  const re = /([A-Za-z_][A-Za-z0-9_]*)|\[(\d+)\]|(\.)/gy;
  let expectKey = true;
  let m: RegExpExecArray | null;
  re.lastIndex = 0;
  while (re.lastIndex < text.length) {
    m = re.exec(text);
    if (!m) return null;
    if (m[1] !== undefined) {
      if (!expectKey) return null;
      parts.push(m[1]);
      expectKey = false;
    } else if (m[2] !== undefined) {
      if (expectKey) return null;
      parts.push(Number(m[2]));
    } else {
      if (expectKey) return null;
      expectKey = true;
    }
  }
  return parts.length > 0 && !expectKey ? parts : null;
}

/** The schema that applies at `path` of `root`, following registry dispatch by the item's `type`. */
export function schemaAt(schema: Schema, path: PathPart[], root: Json): Schema | undefined {
  // A registry-dispatched schema stands for the branch of the value's `type`.
  const branch = (s: Schema | undefined, v: Json | undefined): Schema | undefined => {
    if (!s || !Array.isArray(s.oneOf) || !s.discriminator || !v || typeof v !== 'object' || Array.isArray(v)) return s;
    const type = (v as Record<string, Json>).type;
    return (s.oneOf as Schema[]).find((b) => (b.properties as Record<string, Schema>)?.type?.const === type) ?? s;
  };
  let s: Schema | undefined = schema;
  let v: Json | undefined = root;
  for (const part of path) {
    s = branch(s, v);
    if (!s) return undefined;
    if (typeof part === 'number') {
      s = s.items as Schema | undefined;
      v = Array.isArray(v) ? v[part] : undefined;
    } else {
      s =
        (s.properties as Record<string, Schema> | undefined)?.[part] ??
        (typeof s.additionalProperties === 'object' ? (s.additionalProperties as Schema) : undefined);
      v = v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, Json>)[part] : undefined;
    }
  }
  return branch(s, v);
}

export function parseOverride(arg: string): Override {
  const eq = arg.indexOf('=');
  if (eq <= 0) fail(arg, '', 'an override is KEY.PATH=VALUE, e.g. training.optimizer.lr=0.05');
  const pathText = arg.slice(0, eq);
  const path = parsePath(pathText);
  if (!path)
    fail(
      arg,
      pathText,
      'not a key path; write keys with dots and list indexes in brackets, e.g. model.layers[2].filters',
    );
  const raw = arg.slice(eq + 1);
  let value: Json;
  try {
    value = parseYaml(raw) as Json;
  } catch {
    value = raw;
  }
  return { arg, path, value: value === undefined ? null : value };
}

/** Applies overrides in order; the path must name keys the schema knows and list items that exist. */
export function applyOverrides(root: Record<string, Json>, overrides: Override[], schema: Schema): void {
  for (const o of overrides) {
    let cur: Json = root;
    for (const [i, part] of o.path.entries()) {
      const here = formatPath(o.path.slice(0, i + 1));
      const last = i === o.path.length - 1;
      if (typeof part === 'number') {
        if (!Array.isArray(cur))
          fail(o.arg, here, `${formatPath(o.path.slice(0, i)) || 'the experiment'} is not a list`);
        if (part >= cur.length) {
          fail(
            o.arg,
            here,
            `index ${part} is out of range: ${formatPath(o.path.slice(0, i))} has ${cur.length} items (0 to ${cur.length - 1})`,
          );
        }
      } else {
        if (cur === null || typeof cur !== 'object' || Array.isArray(cur)) {
          fail(o.arg, here, `${formatPath(o.path.slice(0, i))} is not a mapping, so it has no key '${part}'`);
        }
        const parentSchema = schemaAt(schema, o.path.slice(0, i), root);
        const known = parentSchema?.properties ? Object.keys(parentSchema.properties as object) : undefined;
        if (known && parentSchema?.additionalProperties === false && !known.includes(part)) {
          const hint = didYouMean(part, known);
          fail(
            o.arg,
            here,
            `unknown key '${part}'${hint ? `; did you mean '${hint}'?` : `; valid keys: ${known.join(', ')}`}`,
          );
        }
      }
      if (last) {
        const target = schemaAt(schema, o.path, root);
        const wantsString =
          target?.type === 'string' || (Array.isArray(target?.type) && (target.type as string[])[0] === 'string');
        const value = wantsString && o.value !== null && typeof o.value !== 'object' ? String(o.value) : o.value;
        (cur as Record<string | number, Json>)[part] = value;
      } else {
        const container = cur as Record<string | number, Json>;
        if (container[part] === undefined || container[part] === null) {
          // Start from the schema's default (an optimizer defaults to {type: sgd}), so its params can be set.
          const d = schemaAt(schema, o.path.slice(0, i + 1), root)?.default;
          container[part] = d && typeof d === 'object' && !Array.isArray(d) ? structuredClone(d as Json) : {};
        }
        cur = container[part] as Json;
      }
    }
  }
}
