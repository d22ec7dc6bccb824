// One event stream per run: every record goes through here, to its sinks in
// order: the run folder first (fsynced, so nothing the run did is lost), then
// the log, then MLflow (spooled in the run folder, sent in the background).
import type { Logger } from 'pino';
import type { EpochMetrics } from '../spec/events.ts';
import { PRUNED_TAG } from './mlflow-parent.ts';
import type { MlflowReport, MlflowTracker } from './mlflow-tracker.ts';
import type { RunStatus, RunStore } from './run-store.ts';

/** How a run ended: its status, what status.json keeps beside it, and the rung a pruned trial stopped at. */
export interface RunEnd {
  status: Exclude<RunStatus, 'RUNNING' | 'CRASHED'>;
  extra: Record<string, unknown>;
  prunedAt?: number;
}

export interface RunSink {
  epoch?(m: EpochMetrics): void;
  /** The last event: nothing is recorded after it. */
  end?(e: RunEnd): void | Promise<void>;
}

export interface RunEvents {
  epoch(m: EpochMetrics): void;
  end(e: RunEnd): Promise<void>;
}

export function runEvents(sinks: RunSink[]): RunEvents {
  return {
    epoch: (m) => {
      for (const s of sinks) s.epoch?.(m);
    },
    end: async (e) => {
      for (const s of sinks) await s.end?.(e);
    },
  };
}

/** The run folder: metrics.jsonl, status.json, and the lock released at the end. */
export function folderSink(run: RunStore): RunSink {
  return {
    epoch: (m) => run.appendJsonl('metrics.jsonl', m),
    end: (e) => {
      run.setStatus(e.status, e.extra);
      run.release();
    },
  };
}

export function logSink(log: Logger): RunSink {
  return { epoch: (m) => log.info({ event: 'epoch', ...m }, `epoch ${m.epoch}`) };
}

/** MLflow: each epoch's metrics; at the end the run folder's files and the status. `report` says what reached it. */
export function mlflowSink(tracker: MlflowTracker): RunSink & { report?: MlflowReport } {
  const sink: RunSink & { report?: MlflowReport } = {
    epoch: (m) => tracker.epoch(m as unknown as Record<string, unknown>),
    end: async (e) => {
      // MLflow has no PRUNED status: a pruned trial finished, with the rung it stopped at as a tag.
      sink.report = await tracker.finish(
        e.status === 'PRUNED' ? 'FINISHED' : e.status,
        e.prunedAt === undefined ? [] : [{ key: PRUNED_TAG, value: String(e.prunedAt) }],
      );
    },
  };
  return sink;
}
