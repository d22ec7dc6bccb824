// Child process of the backend stress test: runs cases from argv[2] on, one
// line per event, so the parent can tell which case a native crash killed.
import type { layers, Scalar, Tensor } from '@tensorflow/tfjs-node';
import { loadTensorflow } from '../../src/backend/tensorflow.ts';
import { stressCases } from './stress-cases.ts';

const { tf } = await loadTensorflow();
const cases = stressCases();
const say = (event: object) => process.stdout.write(`${JSON.stringify(event)}\n`);

for (const [i, c] of cases.entries()) {
  if (i < Number(process.argv[2] ?? 0)) continue;
  say({ event: 'start', i });
  try {
    for (let r = 0; r < (c.repeat ?? 1); r++) {
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
