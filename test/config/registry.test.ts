// The registries, the JSON Schema, the docs and the compiler agree.
import { readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tfn from '@tensorflow/tfjs-node';
import { describe, expect, it } from 'vitest';
import { GENERATED } from '../../src/config/generated.ts';
import { resolveExperiment } from '../../src/config/resolve.ts';
import { sweepSchema } from '../../src/config/sweep-schema.ts';
import { makeOptimizer } from '../../src/engine/optimizers.ts';
import { buildExperimentModel, buildModel } from '../../src/model/build.ts';
import { planSweep } from '../../src/plan/trial.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import type { RegistryChoice } from '../../src/spec/experiment.ts';
import { LAYERS, type LayerTypeName } from '../../src/spec/layers.ts';
import { OPTIMIZERS } from '../../src/spec/optimizers.ts';
import type { Param } from '../../src/spec/params.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The layer topology exactly as model.json stores it. */
async function modelJsonLayers(
  model: tfn.LayersModel,
): Promise<{ class_name: string; config: Record<string, unknown> }[]> {
  const { tf } = await loadTensorflow();
  let topology: { config: { layers: { class_name: string; config: Record<string, unknown> }[] } } | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts: { modelTopology?: unknown }) => {
      topology = artifacts.modelTopology as typeof topology;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  // The functional model lists its input first; the YAML has no layer for it.
  return (topology?.config.layers ?? []).filter((l) => l.class_name !== 'InputLayer');
}

/** A value different from the default, inside the declared range. */
function sample(p: Param): unknown {
  switch (p.type) {
    case 'integer':
      return (p.default ?? p.minimum ?? 1) + 1;
    case 'number':
      return p.maximum !== undefined ? p.maximum / 2 : (p.default ?? 0.5) * 2 || 0.5;
    case 'boolean':
      return !(p.default ?? false);
    case 'enum':
      return p.values.find((v) => v !== p.default && v !== 'zeros' && v !== 'softmax');
    case 'pair':
      return [2, 2];
    case 'shape':
      return [-1];
    case 'range':
      return [p.minimum, p.maximum];
  }
}

/** The smallest valid spec of a layer type: its required params. */
function minimal(type: LayerTypeName): RegistryChoice {
  const spec: RegistryChoice = { type };
  for (const [k, p] of Object.entries(LAYERS[type].params) as [string, Param][]) {
    if (p.required)
      spec[k] = (
        p.type === 'pair' ? 3 : p.type === 'shape' ? [-1] : p.type === 'enum' ? 'relu' : p.type === 'number' ? 0.25 : 4
      ) as never;
  }
  return spec;
}

/** Layer types whose output is already one vector per example. */
const FLAT_OUTPUT = ['globalAveragePooling2d', 'globalMaxPooling2d', 'flatten', 'dense', 'reshape'];

describe('registry, schema, docs and compiler agree', () => {
  it('schemas/experiment.schema.json and docs/reference.md are generated from the registries', () => {
    for (const [file, make] of Object.entries(GENERATED)) {
      expect(readFileSync(path.join(root, file), 'utf8'), `${file} is stale: run npm run generate`).toBe(make());
    }
  });

  for (const type of Object.keys(LAYERS) as LayerTypeName[]) {
    it(`${type}: class name and every param reach model.json under the same name`, async () => {
      const { tf } = await loadTensorflow();
      // A merge reads two branches of the input; a flat-input layer reads a flatten.
      const prefix: RegistryChoice[] =
        'merge' in LAYERS[type]
          ? [
              { type: 'conv2d', filters: 4, kernel_size: 1, name: 'a', inputs: ['input'] },
              { type: 'conv2d', filters: 4, kernel_size: 1, name: 'b', inputs: ['input'] },
            ]
          : LAYERS[type].input === 'flat'
            ? [{ type: 'flatten' }]
            : [];
      const merged = (spec: RegistryChoice) => ('merge' in LAYERS[type] ? { ...spec, inputs: ['a', 'b'] } : spec);
      const suffix: RegistryChoice[] = FLAT_OUTPUT.includes(type) ? [] : [{ type: 'flatten' }];
      const build = (spec: RegistryChoice) =>
        buildModel(tf, [...prefix, merged(spec), ...suffix], { inputShape: [12, 12, 4], seed: 1 });
      const base = await modelJsonLayers(build(minimal(type)));
      expect(base[prefix.length]?.class_name).toBe(LAYERS[type].className);
      for (const [name, p] of Object.entries(LAYERS[type].params) as [string, Param][]) {
        if (p.type === 'shape') continue; // reshape's target is checked by the minimal build
        const value = sample(p);
        const spec = { ...minimal(type), [name]: value } as RegistryChoice;
        if (name === 'dilation_rate') spec.strides = 1; // tfjs allows dilation only at stride 1
        const layers = await modelJsonLayers(build(spec));
        const config = layers[prefix.length]?.config ?? {};
        expect(Object.keys(config), `${type}.${name}`).toContain(name);
        if (type === 'zeroPadding2d')
          expect(config[name]).toEqual([
            [2, 2],
            [2, 2],
          ]);
        else if (p.type === 'pair') expect(config[name]).toEqual([2, 2]);
        else if (p.type === 'enum' && name.endsWith('initializer')) expect(config[name]).toBeTruthy();
        else if (p.type === 'enum')
          expect(String(config[name]).toLowerCase()).toBe(String(value).replace(/_/g, '').toLowerCase());
        else expect(config[name]).toBe(value);
      }
    });
  }

  it('every optimizer entry builds and its params reach the tf.train optimizer', async () => {
    const { tf } = await loadTensorflow();
    for (const [type, entry] of Object.entries(OPTIMIZERS)) {
      const choice = {
        type,
        ...Object.fromEntries(
          Object.entries(entry.params).map(([k, p]) => [k, (p as Param & { default: unknown }).default]),
        ),
      } as RegistryChoice;
      if (type === 'sgd') Object.assign(choice, { momentum: 0.9 });
      const opt = makeOptimizer(tf, choice);
      const config = opt.getConfig() as Record<string, unknown>;
      expect(config.learningRate, type).toBe(choice.lr);
      // A few steps on a convex loss move the weight towards the minimum.
      const w = tf.variable(tf.scalar(3));
      for (let i = 0; i < 5; i++) opt.minimize(() => w.square() as tfn.Scalar);
      expect(Math.abs(w.dataSync()[0] as number), type).toBeLessThan(3);
    }
  });
});

describe('compiler', () => {
  it('compiling the same config twice gives the same topology and initial weights', async () => {
    const { tf } = await loadTensorflow();
    const { experiment } = resolveExperiment(path.join(root, 'experiments', 'deep.yaml'), { env: {} });
    const build = () => buildModel(tf, experiment.model.layers, { inputShape: [64, 64, 3], seed: experiment.seed });
    const [a, b] = [build(), build()];
    expect(JSON.stringify(a.toJSON(null, false))).toBe(JSON.stringify(b.toJSON(null, false)));
    const wa = a.getWeights().map((t) => Array.from(t.dataSync().slice(0, 16)));
    const wb = b.getWeights().map((t) => Array.from(t.dataSync().slice(0, 16)));
    expect(wa).toEqual(wb);
  });

  it('the YAML layer types map one-to-one onto the class names in the saved model.json', async () => {
    const { tf } = await loadTensorflow();
    for (const name of ['baseline.yaml', 'deep.yaml']) {
      const { experiment } = resolveExperiment(path.join(root, 'experiments', name), { env: {} });
      const model = buildModel(tf, experiment.model.layers, { inputShape: [64, 64, 3], seed: 1 });
      const saved = await modelJsonLayers(model);
      expect(saved.map((l) => l.class_name)).toEqual(
        experiment.model.layers.map((l) => LAYERS[l.type as LayerTypeName].className),
      );
      expect(saved.map((l) => l.config.name)).toEqual(experiment.model.layers.map((l, i) => `${l.type}_${i + 1}`));
    }
  });
});

describe('example experiments', () => {
  const PARAMS: Record<string, number> = {
    'baseline.yaml': 1_142_210,
    'baseline-adam.yaml': 1_142_210,
    'quick.yaml': 136_354,
    'deep.yaml': 129_378,
    'sweep.yaml': 136_354,
    'sweep-asha.yaml': 136_354,
    'faces.yaml': 5_667_266,
    'faces-scratch.yaml': 1_570_370,
    'resnet.yaml': 313_586,
    'faces-backbone.yaml': 5_667_266,
    'sweep-tpe.yaml': 136_354,
    'sweep-grid.yaml': 136_354,
    'utkface-multitask.yaml': 5_728_615,
  };

  it('every sweep method the schema documents has an example in experiments/ that plans its trials', () => {
    const methods = (sweepSchema() as { properties: { method: { enum: string[] } } }).properties.method.enum;
    for (const method of methods) {
      const examples = readdirSync(path.join(root, 'experiments')).filter((f) =>
        readFileSync(path.join(root, 'experiments', f), 'utf8').includes(`method: ${method}\n`),
      );
      expect(examples, method).not.toEqual([]);
      for (const f of examples) {
        const plan = planSweep(path.join(root, 'experiments', f), { env: {} });
        expect(plan.trials.length, f).toBeGreaterThan(0);
      }
    }
  });

  it('every file in experiments/ is listed here', () => {
    expect(readdirSync(path.join(root, 'experiments')).sort()).toEqual(Object.keys(PARAMS).sort());
  });

  for (const [name, params] of Object.entries(PARAMS)) {
    it(`${name} validates and compiles to ${params.toLocaleString('en-US')} parameters`, async () => {
      const { tf } = await loadTensorflow();
      const file = path.join(root, 'experiments', name);
      expect(readFileSync(file, 'utf8').split('\n')[0]).toBe(
        '# yaml-language-server: $schema=../schemas/experiment.schema.json',
      );
      const { experiment } = resolveExperiment(file, { env: {} });
      const [h, w] = experiment.data.preprocessing.size;
      const model = await buildExperimentModel(tf, experiment, [h, w, 3], experiment.data.classes?.length);
      expect(model.countParams()).toBe(params);
    });
  }
});
