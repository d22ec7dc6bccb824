// Child process of the backend stress test: runs cases from argv[2] on, eagerly
// or (argv[3] = graph) as graph-engine training steps, one line per event, so
// the parent can tell which case a native crash killed.
import type { layers, Scalar, SymbolicTensor, Tensor } from '@tensorflow/tfjs-node';
import { GraphTrainer } from '../../src/engine/graph/graph-trainer.ts';
import { loadTensorflow } from '../../src/platform/tensorflow.ts';
import type { Experiment } from '../../src/spec/experiment.ts';
import { type StressCase, stressCases } from './stress-cases.ts';

const { tf } = await loadTensorflow();

/** The case's layer in a small model (then flatten, if needed, and a softmax head), trained two steps by the graph engine. */
async function graphSteps(c: StressCase): Promise<void> {
  const input = tf.input({ shape: c.input.slice(1) });
  // biome-ignore lint/suspicious/noExplicitAny: layer factories are looked up by name
  const layer = (tf.layers as any)[c.layer](c.config) as layers.Layer;
  const features = layer.apply(input) as SymbolicTensor;
  const flat = features.shape.length > 2 ? (tf.layers.flatten().apply(features) as SymbolicTensor) : features;
  const out = tf.layers.dense({ units: 2, activation: 'softmax' }).apply(flat) as SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  const exp = {
    seed: 1,
    data: { augmentation: [] },
    training: {
      optimizer: { type: 'sgd', lr: 0.01, momentum: 0.9, nesterov: false },
      loss: { type: 'categorical_crossentropy', label_smoothing: 0 },
      class_weights: null,
    },
  } as unknown as Experiment;
  const trainer = new GraphTrainer(tf, exp, model, 2);
  const n = c.input[0] as number;
  const x = tf.randomNormal(c.input);
  const pixels = x.dataSync() as Float32Array;
  x.dispose();
  const y = Float32Array.from({ length: n * 2 }, (_, i) => (i % 2 === 0 ? 1 : 0));
  for (let step = 0; step < 2; step++) {
    if (!(await trainer.step(pixels, n, y, 0.01, [1, step])).finite) throw new Error('NaN in the output or the loss');
  }
  model.dispose();
}
const cases = stressCases();
const say = (event: object) => process.stdout.write(`${JSON.stringify(event)}\n`);

for (const [i, c] of cases.entries()) {
  if (i < Number(process.argv[2] ?? 0)) continue;
  say({ event: 'start', i });
  try {
    for (let r = 0; r < (c.repeat ?? 1); r++) {
      if (process.argv[3] === 'graph') {
        await graphSteps(c);
        continue;
      }
      tf.tidy(() => {
        // biome-ignore lint/suspicious/noExplicitAny: layer factories are looked up by name
        const layer = (tf.layers as any)[c.layer](c.config) as layers.Layer;
        const x = tf.randomNormal(c.input);
        const f = () => (layer.apply(x, { training: true }) as Tensor).square().mean() as Scalar;
        f(); // builds the layer's weights, if it has any
        const outputs = [tf.grad((input: Tensor) => (layer.apply(input, { training: true }) as Tensor).sum())(x)];
        if (layer.trainableWeights.length > 0) {
          const { value, grads } = tf.variableGrads(f);
          outputs.push(value, ...Object.values(grads));
        }
        const finite = outputs.every((t) => tf.isNaN(t).any().dataSync()[0] === 0);
        if (!finite) throw new Error('NaN in the output or a gradient');
      });
    }
    say({ event: 'ok', i });
  } catch (err) {
    say({ event: 'fail', i, message: err instanceof Error ? err.message : String(err) });
  }
}
