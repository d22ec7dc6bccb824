// Saving a layers model as model.json + weights.bin, the files tfjs-node's
// file:// handler writes, on any backend: the pure-JS one (training.
// allow_non_native_backend) has no file handler of its own.
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { LayersModel } from '@tensorflow/tfjs-node';
import type { Tf } from './tensorflow.ts';

export async function saveModelFiles(tf: Tf, model: LayersModel, dir: string): Promise<void> {
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      mkdirSync(dir, { recursive: true });
      const json = {
        modelTopology: a.modelTopology,
        weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
        format: a.format,
        generatedBy: a.generatedBy,
        convertedBy: a.convertedBy,
        ...(a.trainingConfig != null ? { trainingConfig: a.trainingConfig } : {}),
        ...(a.signature != null ? { signature: a.signature } : {}),
        ...(a.userDefinedMetadata != null ? { userDefinedMetadata: a.userDefinedMetadata } : {}),
      };
      writeFileSync(path.join(dir, 'model.json'), JSON.stringify(json), 'utf8');
      const weights = a.weightData ? tf.io.CompositeArrayBuffer.join(a.weightData) : new ArrayBuffer(0);
      writeFileSync(path.join(dir, 'weights.bin'), Buffer.from(weights));
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
}
