// What a run records about where it ran and on what: versions, the backend,
// the data and config hashes, and the exact weights of a detector or backbone.
import { createHash } from 'node:crypto';
import type { PreparedData } from '../data/prepare.ts';
import { pathIdentity } from '../model/backbones/from-path.ts';
import type { LoadedBackend } from '../platform/tensorflow.ts';
import { configText, environment } from '../record/run-store.ts';
import { type BackboneName, backboneIdentity } from '../spec/backbones.ts';
import { type DetectorName, detectorIdentity } from '../spec/detectors.ts';
import { type Experiment, faceCropOf } from '../spec/experiment.ts';

export function runEnvironment(
  { tf, native, threads }: LoadedBackend,
  exp: Experiment,
  files: string[],
  data: PreparedData,
): Record<string, unknown> {
  const crop = faceCropOf(exp.data.preprocessing);
  const backbone = exp.model.backbone;
  return environment({
    tfjs: tf.version.tfjs,
    backend: tf.getBackend(),
    // biome-ignore lint/suspicious/noExplicitAny: the binding is untyped
    libtensorflow: native ? ((tf.backend() as any).binding.TF_Version as string) : null,
    // What TensorFlow's kernels run on (training.threads, or one per core), eager and graph alike.
    intra_op_threads: threads,
    dataset_hash: data.hash,
    config_hash: createHash('sha256').update(configText(exp)).digest('hex').slice(0, 16),
    config_files: files,
    ...(crop ? { face_detector: detectorIdentity(crop.detector as DetectorName) } : {}),
    ...(backbone
      ? {
          backbone: backbone.path ? pathIdentity(backbone.path) : backboneIdentity(backbone.from as BackboneName),
        }
      : {}),
  });
}
