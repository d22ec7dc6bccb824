// Validation against the experiment schema (ajv), with every error located and
// phrased so that the reader knows what would be valid. Fills in defaults.
import type { ErrorObject } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { type ConfigError, didYouMean, formatPath, type PathPart } from '../spec/errors.ts';
import type { Json } from '../spec/experiment.ts';
import type { Locator } from './compose.ts';
import { schemaAt } from './overrides.ts';

type Schema = Record<string, unknown>;

const ajvFor = new WeakMap<Schema, ReturnType<Ajv2020['compile']>>();

function validator(schema: Schema) {
  let v = ajvFor.get(schema);
  if (!v) {
    // Defaults inside oneOf branches (registry entries) are filled by fillRegistryDefaults instead.
    const ajv = new Ajv2020({ allErrors: true, verbose: true, useDefaults: true, discriminator: true, strict: false });
    // Patterns users write (file-name labels and attributes) are JavaScript regular expressions.
    ajv.addFormat('regex', (text: string) => regexError(text) === null);
    v = ajv.compile(schema);
    ajvFor.set(schema, v);
  }
  return v;
}

/** Why `text` is not a JavaScript regular expression, or null when it is one. */
function regexError(text: string): string | null {
  try {
    new RegExp(text);
    return null;
  } catch (err) {
    return (err as Error).message.replace(/^Invalid regular expression: /, '');
  }
}

/** "/model/layers/2/filters" -> ["model", "layers", 2, "filters"] */
function pointerParts(pointer: string): PathPart[] {
  return pointer
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  return JSON.stringify(v) ?? String(v);
}

function range(s: Schema): string {
  const lo =
    s.minimum !== undefined ? `>= ${s.minimum}` : s.exclusiveMinimum !== undefined ? `> ${s.exclusiveMinimum}` : '';
  const hi =
    s.maximum !== undefined ? `<= ${s.maximum}` : s.exclusiveMaximum !== undefined ? `< ${s.exclusiveMaximum}` : '';
  return [lo, hi].filter(Boolean).join(' and ');
}

function kind(s: Schema | undefined): string {
  if (!s) return 'a valid value';
  if (s.enum) return `one of ${(s.enum as unknown[]).map(show).join(', ')}`;
  if (s.oneOf && !s.discriminator) {
    return (s.oneOf as Schema[])
      .map((b) => (b.const !== undefined ? show(b.const) : ((b.title as string | undefined) ?? kind(b))))
      .join(' or ');
  }
  const t = Array.isArray(s.type) ? (s.type as string[]).join(' or ') : (s.type as string | undefined);
  const r = range(s);
  switch (t) {
    case 'integer':
      return `an integer${r ? ` ${r}` : ''}`;
    case 'number':
      return `a number${r ? ` ${r}` : ''}`;
    case 'array': {
      const n = s.minItems !== undefined && s.minItems === s.maxItems ? `${s.minItems} ` : '';
      const item = kind(s.items as Schema)
        .replace(/^an? /, '')
        .replace(/^(integer|number|string|mapping)\b/, '$1s');
      return `a list of ${n}${item}`;
    }
    case 'object':
      return 'a mapping';
    case 'null':
      return 'null';
    default:
      return t ? `a ${t}` : 'a valid value';
  }
}

function describe(
  e: ErrorObject,
  schema: Schema,
  root: Json,
): { parts: PathPart[]; what: 'key' | 'value'; message: string } {
  const parts = pointerParts(e.instancePath);
  const here = schemaAt(schema, parts, root);
  const value = e.data;
  // A key that breaks `propertyNames` (evaluation set names): point at the key itself.
  if (e.propertyName !== undefined) {
    const names = here?.propertyNames as Schema | undefined;
    return {
      parts: [...parts, e.propertyName],
      what: 'key',
      message: `'${e.propertyName}' is not a valid name here: ${names?.description ?? `it must match ${names?.pattern}`}`,
    };
  }
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = (e.params as { additionalProperty: string }).additionalProperty;
      const known = Object.keys((here?.properties as object) ?? {}).filter((k) => k !== '$schema');
      const hint = didYouMean(key, known);
      return {
        parts: [...parts, key],
        what: 'key',
        message: `unknown key '${key}'${hint ? `; did you mean '${hint}'?` : known.length ? `; valid keys: ${known.join(', ')}` : ''}`,
      };
    }
    case 'required': {
      const key = (e.params as { missingProperty: string }).missingProperty;
      const sub = (here?.properties as Record<string, Schema> | undefined)?.[key];
      return {
        parts,
        what: 'value',
        message: `missing required key '${key}'${sub?.description ? ` (${sub.description})` : ''}`,
      };
    }
    case 'discriminator': {
      const tag = (e.params as { tagValue?: unknown }).tagValue;
      const types = ((here?.properties as Record<string, Schema>)?.type?.enum as string[] | undefined) ?? [];
      const hint = typeof tag === 'string' ? didYouMean(tag, types) : undefined;
      return {
        parts: [...parts, 'type'],
        what: 'value',
        message:
          tag === undefined
            ? `missing 'type'; one of ${types.join(', ')}`
            : `unknown type ${show(tag)}${hint ? `; did you mean '${hint}'?` : `; valid types: ${types.join(', ')}`}`,
      };
    }
    case 'enum': {
      const values = (e.params as { allowedValues: unknown[] }).allowedValues;
      const hint = typeof value === 'string' ? didYouMean(value, values.map(String)) : undefined;
      return {
        parts,
        what: 'value',
        message: `${show(value)} is not allowed${hint ? `; did you mean '${hint}'?` : ''} (must be one of ${values.map(show).join(', ')})`,
      };
    }
    case 'maximum':
      if (e.instancePath === '/version') {
        return {
          parts,
          what: 'value',
          message: `this file is format version ${show(value)}, but this run-exp reads versions up to ${here?.maximum}; upgrade run-exp`,
        };
      }
      return { parts, what: 'value', message: `${show(value)} is out of range: must be ${kind(here)}` };
    case 'minimum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { parts, what: 'value', message: `${show(value)} is out of range: must be ${kind(here)}` };
    case 'pattern':
      return {
        parts,
        what: 'value',
        message: `${show(value)} is not valid: ${here?.description ?? `must match ${here?.pattern}`}`,
      };
    case 'minItems':
    case 'maxItems': {
      const n = (value as unknown[]).length;
      const exact = here?.minItems !== undefined && here.minItems === here.maxItems;
      const bound = exact
        ? ''
        : e.keyword === 'minItems'
          ? ` with at least ${here?.minItems}`
          : ` with at most ${here?.maxItems}`;
      return { parts, what: 'value', message: `has ${n} item${n === 1 ? '' : 's'}: must be ${kind(here)}${bound}` };
    }
    case 'uniqueItems':
      return { parts, what: 'value', message: 'has duplicate items; each may appear once' };
    case 'minLength':
      return { parts, what: 'value', message: 'must not be empty' };
    case 'format':
      return {
        parts,
        what: 'value',
        message: `${show(value)} is not a valid regular expression (${regexError(String(value))}): must be ${kind(here)}`,
      };
    default:
      return { parts, what: 'value', message: `${show(value)} is not valid: must be ${kind(here)}` };
  }
}

/** Keeps the most useful error per place: a failed oneOf reports its own summary, not every branch's. */
function prune(errors: ErrorObject[]): ErrorObject[] {
  const oneOfs = errors.filter((e) => e.keyword === 'oneOf');
  const oneOfAt = new Set(oneOfs.map((e) => e.instancePath));
  const discriminatorAt = new Set(errors.filter((e) => e.keyword === 'discriminator').map((e) => e.instancePath));
  const seen = new Set<string>();
  return errors.filter((e) => {
    if (discriminatorAt.has(e.instancePath) && e.keyword !== 'discriminator') return false;
    // The `type` enum restates what the discriminator error already says, with a hint.
    if (e.keyword === 'enum' && e.instancePath.endsWith('/type') && discriminatorAt.has(e.instancePath.slice(0, -5)))
      return false;
    if (oneOfAt.has(e.instancePath) && e.keyword !== 'oneOf' && !e.schemaPath.includes('/discriminator')) {
      // Errors from inside a plain (non-registry) oneOf's branches.
      if (/\/oneOf\/\d+\//.test(e.schemaPath.slice(e.schemaPath.lastIndexOf('/oneOf/')))) return false;
    }
    // ...and from deeper inside them (an item of a branch's list).
    if (
      oneOfs.some(
        (o) => e !== o && e.schemaPath.startsWith(`${o.schemaPath}/`) && e.instancePath.startsWith(o.instancePath),
      )
    )
      return false;
    if (e.keyword === 'if' || e.keyword === 'anyOf' || e.keyword === 'propertyNames') return false;
    const key = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Validates (and fills defaults into) `value` in place; returns located errors. */
export function validateExperiment(value: Record<string, Json>, schema: Schema, locator: Locator): ConfigError[] {
  const validate = validator(schema);
  if (validate(value)) return [];
  return prune(validate.errors ?? []).map((e) => {
    const d = describe(e, schema, value);
    const p = formatPath(d.parts);
    const at = locator.locate(p, d.what);
    return { file: at.file, line: at.pos.line, col: at.pos.col, path: p, message: d.message };
  });
}
