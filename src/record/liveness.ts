// Whether the process that owns a run (or holds its lock) is still there: a
// run records its process id, host, boot id and the process's start time, so
// a reused pid or a rebooted machine is not mistaken for the run going on.
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

/** Who a process is, as far as another process on any host can tell. */
export interface Owner {
  pid: number;
  host: string;
  /** Linux's boot id: changes when the machine restarts (null elsewhere). */
  boot_id: string | null;
  /** The process's start time in clock ticks since boot (null where /proc is missing). */
  pid_start: number | null;
}

function read(file: string): string | null {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export const bootId = (): string | null => read('/proc/sys/kernel/random/boot_id')?.trim() ?? null;

/** Field 22 of /proc/<pid>/stat: when the process started, fixed for its life. */
export function processStart(pid: number): number | null {
  const stat = read(`/proc/${pid}/stat`);
  if (!stat) return null;
  // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const start = Number(fields[19]);
  return Number.isFinite(start) ? start : null;
}

export function currentOwner(): Owner {
  return { pid: process.pid, host: os.hostname(), boot_id: bootId(), pid_start: processStart(process.pid) };
}

/** alive or dead when this host can tell; elsewhere when the owner ran on another host. */
export type Liveness = 'alive' | 'dead' | 'elsewhere';

export function liveness(owner: Partial<Owner>): Liveness {
  if (owner.pid === undefined) return 'dead';
  if (owner.host !== os.hostname()) return 'elsewhere';
  const boot = bootId();
  if (owner.boot_id && boot && owner.boot_id !== boot) return 'dead';
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return 'dead';
  }
  const start = processStart(owner.pid);
  if (owner.pid_start !== null && owner.pid_start !== undefined && start !== null && start !== owner.pid_start)
    return 'dead';
  return 'alive';
}
