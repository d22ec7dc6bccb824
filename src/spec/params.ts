// Parameter specs: one declaration per parameter gives its JSON Schema, its
// default and its docs line. Every registry (layers, optimizers, schedules)
// declares its entries with these.
export type Param = (
  | { type: 'integer'; minimum?: number; maximum?: number; default?: number }
  | { type: 'number'; minimum?: number; maximum?: number; exclusiveMinimum?: number; default?: number }
  | { type: 'boolean'; default?: boolean }
  | { type: 'enum'; values: readonly string[]; default?: string }
  /** An integer or a [height, width] pair, as kernel sizes and strides are written. */
  | { type: 'pair'; minimum: number; default?: number | [number, number] }
  /** A list of integers (-1 allowed once, as in reshape targets). */
  | { type: 'shape' }
  /** A [low, high] pair of numbers, each within the bounds. */
  | { type: 'range'; minimum: number; maximum: number; default?: [number, number] }
  | { type: 'string'; default?: string }
  /** A list of distinct strings (class or label names). */
  | { type: 'strings'; minItems?: number }
  /** Some of `values`, each at most once. */
  | { type: 'choices'; values: readonly string[]; default?: readonly string[] }
  /** A list of numbers (band bounds). */
  | { type: 'numbers' }
  /** Strings to strings (a label's raw values to the names they stand for). */
  | { type: 'map' }
  /** Loss weights: `balanced`, or a weight per name (`per: name`) or per band, in order (`per: band`). */
  | { type: 'weights'; per: 'name' | 'band' }
) & { doc: string; required?: boolean };

export type Params = Record<string, Param>;

export type JsonSchema = Record<string, unknown>;

function numberBounds(p: { minimum?: number; maximum?: number; exclusiveMinimum?: number }): JsonSchema {
  const s: JsonSchema = {};
  if (p.minimum !== undefined) s.minimum = p.minimum;
  if (p.maximum !== undefined) s.maximum = p.maximum;
  if (p.exclusiveMinimum !== undefined) s.exclusiveMinimum = p.exclusiveMinimum;
  return s;
}

export function paramSchema(p: Param): JsonSchema {
  const base: JsonSchema = { description: p.doc };
  if ('default' in p && p.default !== undefined) base.default = p.default;
  switch (p.type) {
    case 'integer':
    case 'number':
      return { ...base, type: p.type, ...numberBounds(p) };
    case 'boolean':
      return { ...base, type: 'boolean' };
    case 'enum':
      return { ...base, enum: [...p.values] };
    case 'pair': {
      const int = { type: 'integer', minimum: p.minimum };
      return { ...base, oneOf: [int, { type: 'array', items: int, minItems: 2, maxItems: 2 }] };
    }
    case 'shape':
      return { ...base, type: 'array', minItems: 1, items: { type: 'integer', minimum: -1 } };
    case 'range': {
      const item = { type: 'number', minimum: p.minimum, maximum: p.maximum };
      return { ...base, type: 'array', items: item, minItems: 2, maxItems: 2 };
    }
    case 'string':
      return { ...base, type: 'string', minLength: 1 };
    case 'strings':
      return {
        ...base,
        type: 'array',
        items: { type: 'string', minLength: 1 },
        uniqueItems: true,
        ...(p.minItems ? { minItems: p.minItems } : {}),
      };
    case 'choices':
      return { ...base, type: 'array', items: { enum: [...p.values] }, uniqueItems: true, minItems: 1 };
    case 'numbers':
      return { ...base, type: 'array', items: { type: 'number' }, minItems: 1 };
    case 'map':
      return { ...base, type: 'object', additionalProperties: { type: 'string', minLength: 1 } };
    case 'weights': {
      const weight = { type: 'number', exclusiveMinimum: 0 };
      const given =
        p.per === 'name'
          ? { type: 'object', additionalProperties: weight, minProperties: 1 }
          : { type: 'array', items: weight, minItems: 1 };
      return { ...base, oneOf: [{ const: 'balanced' }, given] };
    }
  }
}

/**
 * The JSON Schema of an object whose `type` names a registry entry: the entry's
 * params as properties, nothing else allowed.
 */
export function entrySchema(type: string, doc: string, params: Params, common: JsonSchema = {}): JsonSchema {
  const required = ['type', ...Object.entries(params).flatMap(([k, p]) => (p.required ? [k] : []))];
  return {
    type: 'object',
    description: doc,
    properties: {
      type: { const: type, description: doc },
      ...Object.fromEntries(Object.entries(params).map(([k, p]) => [k, paramSchema(p)])),
      ...common,
    },
    required,
    additionalProperties: false,
  };
}

/**
 * A registry's entries as one schema, dispatched on `type` (ajv's discriminator);
 * `common` holds keys every entry may carry besides its params.
 */
export function registrySchema(
  entries: Record<string, { doc: string; params: Params }>,
  common: JsonSchema = {},
): JsonSchema {
  return {
    type: 'object',
    required: ['type'],
    properties: { type: { enum: Object.keys(entries) } },
    discriminator: { propertyName: 'type' },
    oneOf: Object.entries(entries).map(([type, e]) => entrySchema(type, e.doc, e.params, common)),
  };
}

/** kernel_size -> kernelSize: YAML speaks Keras' snake_case, tfjs factories take camelCase. */
export function camelCase(key: string): string {
  return key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Fills the params a registry entry declares defaults for, leaving given ones alone. */
export function fillDefaults(obj: Record<string, unknown>, params: Params): void {
  for (const [k, p] of Object.entries(params)) {
    if (obj[k] === undefined && 'default' in p && p.default !== undefined) obj[k] = structuredClone(p.default);
  }
}

/** An object `{ type, ... }` with the defaults of the registry entry its type names filled in; anything else left alone. */
export function fillEntry(obj: unknown, registry: Record<string, { params: Params }>): void {
  if (obj && typeof obj === 'object' && !Array.isArray(obj)) {
    const o = obj as Record<string, unknown>;
    const entry = typeof o.type === 'string' ? registry[o.type] : undefined;
    if (entry) fillDefaults(o, entry.params);
  }
}
