// What --resume checks before it continues a run: the same experiment, the same data.

import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { PreparedData } from '../data/prepare.ts';
import { configText } from '../record/run-store.ts';
import { DataError } from '../spec/errors.ts';
import type { Experiment } from '../spec/experiment.ts';

/** Size and modification time of every file a run trains and validates on: what a resume compares. */
export const DATA_FILES = 'data-files.json';

export const dataFiles = (data: PreparedData): Record<string, [number, number]> =>
  Object.fromEntries(data.stamps.map((s) => [s.path, [s.size, s.mtimeMs]]));

/** A resumed run goes on only with the experiment it was started with (its config.yaml). */
export function checkSameExperiment(dir: string, exp: Experiment, named = dir): void {
  if (readFileSync(path.join(dir, 'config.yaml'), 'utf8') === configText(exp)) return;
  throw new DataError(
    `the experiment differs from the one ${named} was started with (its config.yaml); resume with the same file and --set options`,
  );
}

/** --resume on other data than the run started with stops, naming how many files changed. */
export function checkSameData(dir: string, data: PreparedData, allow: boolean): void {
  const recorded = JSON.parse(readFileSync(path.join(dir, 'environment.json'), 'utf8')) as { dataset_hash?: string };
  if (recorded.dataset_hash === data.hash || allow) return;
  const file = path.join(dir, DATA_FILES);
  const before = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, [number, number]>) : {};
  const now = dataFiles(data);
  const changed = Object.keys(now).filter((f) => f in before && String(before[f]) !== String(now[f])).length;
  const added = Object.keys(now).filter((f) => !(f in before)).length;
  const removed = Object.keys(before).filter((f) => !(f in now)).length;
  const hashes = `dataset hash ${data.hash.slice(0, 16)}, recorded ${recorded.dataset_hash?.slice(0, 16)}`;
  // Same paths, sizes and times, another hash: contents rewritten in place, or a hash of paths and
  // times (run-exp before content-keyed caches).
  if (changed + added + removed === 0)
    throw new DataError(
      `the dataset hash differs from the run's (${hashes}) though every file has its recorded path, size and time: files rewritten in place, or a run recorded by an earlier run-exp (whose hash covered paths and times, not contents); resume with --allow-data-change if the data is the same, or start a new run`,
    );
  throw new DataError(
    `the data changed since the run started (${hashes}): ${changed} files changed, ${added} added, ${removed} removed; resume with --allow-data-change to go on with the data as it is now, or start a new run`,
  );
}
