// The parent run of a sweep, found or created exactly once however many trial
// processes (CI jobs) start together. MLflow has no conditional create, but
// experiment names are unique (a deleted experiment keeps its name): the
// process that creates the lock experiment `<experiment>/.sweep-<id>` makes the
// parent run and names it in a tag of that lock; the others wait for the tag
// (and, should its creator die first, one of them takes over, by a second lock).
import { type MlflowClient, MlflowError, type Tag } from './mlflow-client.ts';

export const SWEEP_TAG = 'run_exp.sweep_id';
export const ROLE_TAG = 'run_exp.role';
/** A trial run's index in its sweep. */
export const TRIAL_TAG = 'run_exp.trial';
/** A trial run's overrides, as JSON (a tpe trial's are proposed when it starts). */
export const OVERRIDES_TAG = 'run_exp.overrides';
/** Set on a trial ASHA stopped: the rung (epoch) it stopped at. */
export const PRUNED_TAG = 'run_exp.pruned_at';
const PARENT_TAG = 'run_exp.parent_run_id';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface SweepRef {
  id: string;
  /** Tags for the parent when this process is the one to create it. */
  tags: Tag[];
}

/** Finds the sweep's parent run in the experiment. */
export async function findParent(client: MlflowClient, experimentId: string, sweepId: string) {
  const runs = await client.searchRuns(
    [experimentId],
    `tags.\`${SWEEP_TAG}\` = '${sweepId}' and tags.\`${ROLE_TAG}\` = 'parent'`,
    ['attributes.start_time ASC'],
  );
  return runs[0]?.info;
}

/** The parent run id of a sweep: found, or created by exactly one of the processes asking at once. */
export async function parentRun(
  client: MlflowClient,
  experimentId: string,
  experimentName: string,
  sweep: SweepRef,
  waitMs = 60_000,
): Promise<string> {
  const found = await findParent(client, experimentId, sweep.id);
  if (found) return found.run_id;
  const lockName = `${experimentName}/.sweep-${sweep.id}`;
  const create = async (lockId: string) => {
    const info =
      (await findParent(client, experimentId, sweep.id)) ??
      (
        await client.createRun({
          experimentId,
          runName: `sweep-${sweep.id}`,
          startTime: Date.now(),
          tags: [...sweep.tags, { key: SWEEP_TAG, value: sweep.id }, { key: ROLE_TAG, value: 'parent' }],
        })
      ).info;
    await client.setExperimentTag(lockId, PARENT_TAG, info.run_id);
    // Deleted, the lock leaves the experiment list but keeps its name taken.
    await client.deleteExperiment(lockId);
    return info.run_id;
  };
  try {
    return await create(await client.createExperiment(lockName));
  } catch (err) {
    if (!(err instanceof MlflowError && err.code === 'RESOURCE_ALREADY_EXISTS')) throw err;
  }
  const deadline = Date.now() + waitMs;
  let tookOver = false;
  for (;;) {
    const lock = await client.experimentByName(lockName);
    const named = lock?.tags?.find((t) => t.key === PARENT_TAG)?.value;
    if (named) return named;
    const parent = await findParent(client, experimentId, sweep.id);
    if (parent) return parent.run_id;
    if (Date.now() > deadline && lock && !tookOver) {
      // The lock's creator died before naming a parent. Taking over is itself a lock, so that
      // the processes that waited for it do not all make one.
      tookOver = true;
      try {
        const takeover = await client.createExperiment(`${lockName}/takeover`);
        const id = await create(lock.experiment_id);
        await client.deleteExperiment(takeover);
        return id;
      } catch (err) {
        if (!(err instanceof MlflowError && err.code === 'RESOURCE_ALREADY_EXISTS')) throw err;
      }
    }
    if (Date.now() > deadline + 4 * waitMs) throw new MlflowError(`no parent run for sweep ${sweep.id} appeared`);
    await sleep(250 + Math.random() * 250);
  }
}

/**
 * Claims the lowest trial index of a sweep that no process has claimed, skipping `done`:
 * creating the lock experiment `<experiment>/.sweep-<id>/trial-<i>` succeeds for one process
 * only. Null when every trial is claimed.
 */
export async function claimTrial(
  client: MlflowClient,
  experimentName: string,
  sweepId: string,
  trials: number,
  done: Set<number>,
): Promise<number | null> {
  for (let i = 0; i < trials; i++) {
    if (done.has(i)) continue;
    try {
      await client.deleteExperiment(await client.createExperiment(`${experimentName}/.sweep-${sweepId}/trial-${i}`));
      return i;
    } catch (err) {
      if (!(err instanceof MlflowError && err.code === 'RESOURCE_ALREADY_EXISTS')) throw err;
    }
  }
  return null;
}
