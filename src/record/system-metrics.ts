// Per-epoch system metrics, named as MLflow's own system metrics are (so its UI
// groups them), plus run-exp's: the process's resident memory (now and its
// peak over the epoch) and the live tensor count, which must not grow.
import * as os from 'node:os';

const MB = 1024 * 1024;

const cpuTimes = () =>
  os.cpus().reduce(
    (t, c) => {
      const busy = c.times.user + c.times.nice + c.times.sys + c.times.irq;
      return { busy: t.busy + busy, all: t.all + busy + c.times.idle };
    },
    { busy: 0, all: 0 },
  );

export interface SystemSampler {
  /** Called often (every batch): keeps the epoch's peak resident memory. */
  touch(): void;
  /** The epoch's metrics; starts the next epoch. */
  epoch(tensors: number): Record<string, number>;
}

export function systemSampler(): SystemSampler {
  let last = cpuTimes();
  let peak = 0;
  const touch = () => {
    peak = Math.max(peak, process.memoryUsage.rss());
  };
  return {
    touch,
    epoch(tensors) {
      touch();
      const now = cpuTimes();
      const cpu = now.all > last.all ? (100 * (now.busy - last.busy)) / (now.all - last.all) : 0;
      last = now;
      const out = {
        'system/cpu_utilization_percentage': Math.round(cpu * 10) / 10,
        'system/system_memory_usage_megabytes': Math.round((os.totalmem() - os.freemem()) / MB),
        'system/process_rss_megabytes': Math.round(process.memoryUsage.rss() / MB),
        'system/process_peak_rss_megabytes': Math.round(peak / MB),
        'system/tensor_count': tensors,
      };
      peak = 0;
      return out;
    },
  };
}
