// Blocks: sub-graphs declared once under model.blocks, with parameters, and
// used in model.layers as `{ type: block, block: <name>, repeat: n, <param>: v }`.
// Expansion happens before validation, so the expanded layers are checked by
// the same schema as any other; every expanded layer remembers where it was
// written, so errors point at the block's layer or at the use's parameter.

import { type ConfigError, didYouMean, uniqueErrors } from '../spec/errors.ts';
import type { Json } from '../spec/experiment.ts';
import { layerName } from '../spec/layers.ts';

/** The `type` of a layer item that uses a block. */
export const BLOCK_TYPE = 'block';
/** Keys of a block use that are not block parameters. */
const USE_KEYS = ['type', 'block', 'repeat', 'name', 'inputs'];
/** The name a block's layers use for the block's input. */
const BLOCK_INPUT = 'input';
const PARAM_REF = /^\$([A-Za-z_][A-Za-z0-9_]*)$/;

/** Where an expanded layer was written: the block layer, the use, and which keys took a use's parameter. */
export interface LayerOrigin {
  /** Path of the layer inside the block definition, e.g. `model.blocks.residual.layers[2]`. */
  layer: string;
  /** Path of the use in model.layers. */
  use: string;
  /** Key of the expanded layer -> the block parameter it took. */
  params: Record<string, string>;
}

export interface Expansion {
  /** One per expanded layer: null for a layer written directly in model.layers. */
  origins: (LayerOrigin | null)[];
  errors: Omit<ConfigError, 'file' | 'line' | 'col'>[];
}

type Obj = Record<string, Json>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

// Default names come from model.layers positions, fixed before expansion moves them (layerName).

/**
 * Replaces every block use in `model.layers` by its layers, in place. Names
 * inside a use are scoped: `<use>/<layer>`, or `<use>/<k>/<layer>` when it
 * repeats; a use's name stands for its last layer.
 */
export function expandBlocks(model: Json | undefined): Expansion {
  const none: Expansion = { origins: [], errors: [] };
  if (!isObj(model) || !Array.isArray(model.layers)) return none;
  const blocks = isObj(model.blocks) ? model.blocks : {};
  const layers = model.layers;
  if (!layers.some((l) => isObj(l) && l.type === BLOCK_TYPE)) {
    return { origins: layers.map(() => null), errors: [] };
  }
  const errors: Expansion['errors'] = [];
  const out: Json[] = [];
  const origins: (LayerOrigin | null)[] = [];
  // What a name written in model.layers means after expansion (a use's name is its last layer).
  const alias = new Map<string, string>();
  let previous: string = BLOCK_INPUT;
  layers.forEach((item, u) => {
    const usePath = `model.layers[${u}]`;
    if (!isObj(item) || item.type !== BLOCK_TYPE) {
      const layer = isObj(item) ? { ...item, name: layerName(item, u) } : item;
      out.push(layer);
      origins.push(null);
      if (isObj(layer)) previous = layer.name as string;
      return;
    }
    const name = layerName({ ...item, type: typeof item.block === 'string' ? item.block : BLOCK_TYPE }, u);
    const def = typeof item.block === 'string' ? blocks[item.block] : undefined;
    if (typeof item.block !== 'string' || !isObj(def) || !Array.isArray(def.layers)) {
      const known = Object.keys(blocks);
      const hint = typeof item.block === 'string' ? didYouMean(item.block, known) : undefined;
      errors.push({
        path: `${usePath}.block`,
        message:
          typeof item.block !== 'string'
            ? `a block use needs block: <name> (declared under model.blocks: ${known.join(', ') || 'none yet'})`
            : `no block is named '${item.block}'${hint ? `; did you mean '${hint}'?` : `; model.blocks declares: ${known.join(', ') || 'none'}`}`,
      });
      return;
    }
    const defPath = `model.blocks.${item.block}`;
    const declared = isObj(def.params) ? def.params : {};
    const values: Obj = {};
    for (const [k, v] of Object.entries(item)) {
      if (USE_KEYS.includes(k)) continue;
      if (!(k in declared)) {
        const hint = didYouMean(k, Object.keys(declared));
        errors.push({
          path: `${usePath}.${k}`,
          message: `block '${item.block}' has no parameter '${k}'${hint ? `; did you mean '${hint}'?` : `; its parameters: ${Object.keys(declared).join(', ') || 'none'}`}`,
        });
      } else values[k] = v;
    }
    for (const [k, d] of Object.entries(declared)) {
      if (values[k] !== undefined) continue;
      if (d === null) errors.push({ path: usePath, message: `block '${item.block}' needs its parameter '${k}'` });
      else values[k] = d;
    }
    const repeat = item.repeat ?? 1;
    if (typeof repeat !== 'number' || !Number.isInteger(repeat) || repeat < 1 || repeat > 64) {
      errors.push({
        path: `${usePath}.repeat`,
        message: `${JSON.stringify(repeat)} is not allowed: repeat is an integer from 1 to 64`,
      });
      return;
    }
    const given = Array.isArray(item.inputs) ? (item.inputs as Json[]) : [previous];
    let into: Json[] = given;
    for (let k = 1; k <= repeat; k++) {
      const scope = repeat > 1 ? `${name}/${k}` : name;
      const inner = def.layers as Json[];
      const scoped = (n: string) => `${scope}/${n}`;
      const innerNames = new Set(inner.map((l, j) => (isObj(l) ? layerName(l, j) : '')));
      inner.forEach((spec, j) => {
        const at = `${defPath}.layers[${j}]`;
        if (!isObj(spec)) {
          out.push(spec);
          origins.push({ layer: at, use: usePath, params: {} });
          return;
        }
        if (spec.type === BLOCK_TYPE) {
          errors.push({ path: `${at}.type`, message: 'a block cannot use another block; list its layers here' });
          return;
        }
        const layer: Obj = {};
        const params: Record<string, string> = {};
        for (const [key, v] of Object.entries(spec)) {
          const ref = typeof v === 'string' ? PARAM_REF.exec(v) : null;
          if (!ref) {
            layer[key] = v;
            continue;
          }
          const p = ref[1] as string;
          if (!(p in declared)) {
            const hint = didYouMean(p, Object.keys(declared));
            errors.push({
              path: `${at}.${key}`,
              message: `'$${p}' names no parameter of block '${item.block}'${hint ? `; did you mean '$${hint}'?` : `; declare it under ${defPath}.params`}`,
            });
            continue;
          }
          layer[key] = values[p] as Json;
          params[key] = p;
        }
        layer.name = scoped(layerName(spec, j));
        const reads = Array.isArray(spec.inputs)
          ? (spec.inputs as Json[])
          : [j === 0 ? BLOCK_INPUT : layerName(inner[j - 1] as Obj, j - 1)];
        // A block is self-contained: its layers read its input or each other.
        layer.inputs = reads.flatMap((r, i) => {
          if (r === BLOCK_INPUT) return into;
          if (typeof r === 'string' && innerNames.has(r)) return [scoped(r)];
          const hint = typeof r === 'string' ? didYouMean(r, [BLOCK_INPUT, ...innerNames]) : undefined;
          errors.push({
            path: `${at}.inputs[${i}]`,
            message: `no layer of block '${item.block}' is named ${JSON.stringify(r)}${hint ? `; did you mean '${hint}'?` : `; names: ${[BLOCK_INPUT, ...innerNames].join(', ')}`}`,
          });
          return [];
        });
        out.push(layer);
        origins.push({ layer: at, use: usePath, params });
      });
      into = [scoped(layerName(inner.at(-1) as Obj, inner.length - 1))];
    }
    alias.set(name, into[0] as string);
    previous = name;
  });
  // Names of uses, written anywhere in inputs, stand for the use's last layer.
  for (const layer of out) {
    if (isObj(layer) && Array.isArray(layer.inputs))
      layer.inputs = layer.inputs.map((r) => (typeof r === 'string' ? (alias.get(r) ?? r) : r));
  }
  model.layers = out;
  // A block used many times would repeat its errors.
  return {
    origins,
    errors: uniqueErrors(errors),
  };
}

/** The path a problem at `path` (in the expanded experiment) was written at. */
export function originOf(path: string, origins: (LayerOrigin | null)[]): string {
  const m = /^model\.layers\[(\d+)\](.*)$/.exec(path);
  const origin = m ? origins[Number(m[1])] : null;
  if (!m || !origin) return path;
  const rest = m[2] as string;
  const key = /^\.([^.[]+)/.exec(rest)?.[1];
  if (key && origin.params[key]) return `${origin.use}.${origin.params[key]}`;
  return `${origin.layer}${rest}`;
}
