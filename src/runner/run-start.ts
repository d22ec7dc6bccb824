// What a run records as it starts: the resolved experiment, the environment,
// the data's facts and splits, and the first lines of its log.
import type { Logger } from 'pino';
import type { Resolved } from '../config/resolve.ts';
import type { FaceStats } from '../data/cache.ts';
import type { PreparedData } from '../data/prepare.ts';
import type { TrialInfo } from '../plan/trial.ts';
import type { LoadedBackend } from '../platform/tensorflow.ts';
import { runLogger, type TerminalLog } from '../record/run-log.ts';
import { type RunStore, writeConfig } from '../record/run-store.ts';
import { runEnvironment } from './environment.ts';
import { DATA_FILES, dataFiles } from './resume-checks.ts';

/** The data's facts a run records: data.json, split.json, bad-files.json. */
function recordData(run: RunStore, data: PreparedData): void {
  run.writeJson('data.json', {
    classes: data.classes,
    counts: data.counts,
    hash: data.hash,
    decoded: data.decoded,
    reused: data.reused,
    warnings: data.warnings,
    faces: data.faces ?? null,
    evaluation_sets: Object.fromEntries(
      Object.entries(data.evaluationSets).map(([name, s]) => [
        name,
        { path: s.path, images: s.files.length, hash: s.hash, faces: s.faces ?? null, bad: s.bad },
      ]),
    ),
  });
  run.writeJson('split.json', {
    classes: data.classes,
    train: data.splits.train.files,
    validation: data.splits.validation.files,
    test: data.splits.test.files,
  });
  run.writeJson('bad-files.json', data.bad);
}

export function recordStart(
  run: RunStore,
  resolved: Resolved,
  backend: LoadedBackend,
  data: PreparedData,
  o: { resumed: boolean; allowDataChange: boolean; trial: TrialInfo | undefined; terminalLog: TerminalLog | undefined },
): { log: Logger; env: Record<string, unknown>; faces: Record<string, FaceStats> } {
  const exp = resolved.experiment;
  const faces: Record<string, FaceStats> = Object.fromEntries(
    [
      ['training data', data.faces] as const,
      ...Object.entries(data.evaluationSets).map(([n, s]) => [n, s.faces] as const),
    ].filter((e): e is readonly [string, FaceStats] => e[1] !== undefined),
  );
  writeConfig(run, exp);
  if (o.trial) run.writeJson('trial.json', o.trial);
  const log = runLogger(run.dir, o.terminalLog);
  log.info(
    { event: o.resumed ? 'run resumed' : 'run started', experiment: exp.name, files: resolved.files },
    o.resumed ? 'run resumed' : 'run started',
  );
  const env = runEnvironment(backend, exp, resolved.files, data);
  if (!o.resumed || o.allowDataChange) run.writeJson(DATA_FILES, dataFiles(data));
  run.writeJson('environment.json', env);
  recordData(run, data);
  log.info(
    {
      event: 'data',
      classes: data.classes,
      counts: data.counts,
      decoded: data.decoded,
      reused: data.reused,
      bad: data.bad.length,
      hash: data.hash,
      faces,
    },
    'data ready',
  );
  for (const w of data.warnings) log.warn({ event: 'warning' }, w);
  return { log, env, faces };
}
