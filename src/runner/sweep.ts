// Runs a sweep's trials on this machine: N worker processes (`run-exp <file>
// --trial i`), the CPU threads divided between them. Trials that finished,
// failed or were pruned in an earlier start are skipped; interrupted ones resume.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ResolveOptions } from '../config/resolve.ts';
import type { Planned } from '../plan/trial.ts';
import { CHECKPOINTS } from '../record/checkpoints.ts';
import { trialFolders } from '../report/sweep-summary.ts';

const BIN = path.resolve(import.meta.dirname, '..', '..', 'bin', 'run-exp.js');

export interface TrialOutcome {
  index: number;
  status: 'FINISHED' | 'PRUNED' | 'FAILED' | 'KILLED' | 'SKIPPED';
  /** Why it was skipped, or the run it resumed. */
  note?: string;
}

export interface LocalSweep {
  plan: Planned;
  file: string;
  options: ResolveOptions;
  parallel: number;
  onTrial?: (o: TrialOutcome, running: number[]) => void;
  /** Where the trials come from when not from the plan here: the next one claimed (--next), null when none is left. */
  claim?: () => Promise<number | null>;
}

/** Runs every unfinished trial; resolves when all have ended or a signal stopped the sweep. */
export async function runSweepLocally(s: LocalSweep): Promise<TrialOutcome[]> {
  const root = s.plan.base.experiment.tracking.dir;
  const earlier = trialFolders(root, s.plan.sweepId);
  const threads = Math.max(1, Math.floor(os.availableParallelism() / s.parallel));
  const outcomes: TrialOutcome[] = [];
  const queue: { index: number; resume?: string }[] = [];
  for (const t of s.claim ? [] : s.plan.trials) {
    const prev = earlier.get(t.index);
    if (prev && ['FINISHED', 'FAILED', 'PRUNED'].includes(prev.status)) {
      const o: TrialOutcome = { index: t.index, status: 'SKIPPED', note: `${prev.status} earlier in ${prev.run}` };
      outcomes.push(o);
      s.onTrial?.(o, []);
    } else {
      const resumable =
        prev && CHECKPOINTS.some((c) => existsSync(path.join(prev.run, 'checkpoints', c, 'state.json')));
      queue.push({ index: t.index, resume: resumable ? prev.run : undefined });
    }
  }
  const running = new Map<number, ChildProcess>();
  let stopping = false;
  // Workers run in their own process groups: a Ctrl-C reaches them once, from here.
  const onSignal = (signal: NodeJS.Signals) => {
    stopping = true;
    for (const child of running.values()) child.kill(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const take = async () => {
    if (!s.claim) return queue.shift();
    const index = stopping ? null : await s.claim();
    return index === null ? undefined : { index, resume: undefined };
  };
  const worker = async () => {
    for (let next = await take(); next && !stopping; next = await take()) {
      const { index, resume } = next;
      const args = [BIN, s.file, '--trial', String(index), '--quiet', '--set', `training.threads=${threads}`];
      for (const set of s.options.set ?? []) args.push('--set', set);
      if (resume) args.push('--resume', resume);
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
      running.set(index, child);
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      running.delete(index);
      // A pruned trial ends well too (exit 0): its run folder tells.
      const pruned = code === 0 && trialFolders(root, s.plan.sweepId).get(index)?.status === 'PRUNED';
      const o: TrialOutcome = {
        index,
        status: pruned ? 'PRUNED' : code === 0 ? 'FINISHED' : code === 130 ? 'KILLED' : 'FAILED',
        note: resume ? `resumed ${resume}` : undefined,
      };
      outcomes.push(o);
      s.onTrial?.(o, [...running.keys()]);
    }
  };
  try {
    await Promise.all(
      Array.from({ length: s.claim ? s.parallel : Math.min(s.parallel, Math.max(1, queue.length)) }, worker),
    );
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  return outcomes.sort((a, b) => a.index - b.index);
}
