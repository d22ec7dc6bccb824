// The local run folder: runs/<experiment>/<run-id>/ holds everything a run
// records. Every write lands on disk before anything else sees it.

import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  closeSync,
  type Dirent,
  existsSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';
import { RunExpError } from '../spec/errors.ts';
import type { EpochMetrics } from '../spec/events.ts';
import { redactUri, redactUris } from './credentials.ts';
import { currentOwner, liveness, type Owner } from './liveness.ts';
import { recordError } from './record-errors.ts';

export type RunStatus = 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED' | 'CRASHED' | 'PRUNED';

/** The lock a running (or resuming) process holds in its run folder. */
export const LOCK_FILE = 'run.lock';

/** Another live process holds the run's lock. */
export class RunLockedError extends RunExpError {
  override name = 'RunLockedError';
}

export interface RunStore {
  id: string;
  dir: string;
  writeJson(name: string, value: unknown): void;
  writeText(name: string, text: string): void;
  /** Appends one JSON line and fsyncs it: a crash right after loses nothing. */
  appendJsonl(name: string, value: unknown): void;
  setStatus(status: RunStatus, extra?: Record<string, unknown>): void;
  /** Rewrites the RUNNING status with the time now: `run-exp runs` tells a lost process by its age. */
  heartbeat(): void;
  /** Gives the run's lock back (at the end of the run). */
  release(): void;
}

function runId(): string {
  const d = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  const stamp = `${d.getUTCFullYear()}${pad(d.getUTCMonth() + 1)}${pad(d.getUTCDate())}-${pad(d.getUTCHours())}${pad(d.getUTCMinutes())}${pad(d.getUTCSeconds())}`;
  return `${stamp}-${Math.random().toString(36).slice(2, 6)}`;
}

export function createRun(root: string, experiment: string): RunStore {
  const dir = path.resolve(root, experiment, runId());
  mkdirSync(dir, { recursive: true });
  const store = openStore(dir, new Date().toISOString());
  store.setStatus('RUNNING');
  return store;
}

/**
 * An existing run folder, to resume into: its records are kept and appended
 * to. Its status stays as it is until the caller sets RUNNING, after its checks.
 */
export function openRun(dir: string): RunStore {
  const status = JSON.parse(readFileSync(path.join(dir, 'status.json'), 'utf8')) as { started: string };
  return openStore(path.resolve(dir), status.started);
}

/**
 * Takes the run folder's lock for this process. A lock whose holder is gone
 * (killed, the machine restarted) is taken over; a live holder's is refused.
 */
function lock(dir: string): void {
  const file = path.join(dir, LOCK_FILE);
  const me = { ...currentOwner(), since: new Date().toISOString() };
  try {
    writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  let holder: Partial<Owner> & { since?: string } = {};
  try {
    holder = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    // An unreadable lock was left by a writer that died mid-write.
  }
  const state = liveness(holder);
  if (state !== 'dead') {
    throw new RunLockedError(
      `${dir} is in use by process ${holder.pid} on ${holder.host} (since ${holder.since ?? 'unknown'})${state === 'elsewhere' ? ', another host: run-exp cannot tell whether it still runs' : ''}; wait for it to end or stop it, then try again`,
    );
  }
  // Replaced whole, then read back: of two processes taking over at once, one wins.
  replaceFile(file, JSON.stringify(me));
  if ((JSON.parse(readFileSync(file, 'utf8')) as Owner).pid !== process.pid) lock(dir);
}

function openStore(dir: string, started: string): RunStore {
  const id = path.basename(dir);
  lock(dir);
  const owner = currentOwner();
  let running: Record<string, unknown> = {};
  const store: RunStore = {
    id,
    dir,
    writeJson(name, value) {
      store.writeText(name, `${JSON.stringify(value, null, 2)}\n`);
    },
    writeText(name, text) {
      const file = path.join(dir, name);
      try {
        mkdirSync(path.dirname(file), { recursive: true });
        replaceFile(file, text);
      } catch (err) {
        throw recordError(err, name, dir) ?? err;
      }
    },
    appendJsonl(name, value) {
      try {
        appendLine(path.join(dir, name), JSON.stringify(value));
      } catch (err) {
        throw recordError(err, name, dir) ?? err;
      }
    },
    setStatus(status, extra = {}) {
      const now = new Date().toISOString();
      if (status === 'RUNNING') {
        running = extra;
        store.writeJson('status.json', { status, started, ended: null, ...owner, heartbeat: now, ...extra });
      } else store.writeJson('status.json', { status, started, ended: now, ...extra });
    },
    heartbeat() {
      store.setStatus('RUNNING', running);
    },
    release() {
      rmSync(path.join(dir, LOCK_FILE), { force: true });
    },
  };
  return store;
}

/** Writes a file whole: readers see the old content or the new, never a part. */
export function replaceFile(file: string, text: string): void {
  // Per process, so two writers never share a temporary; removed when the write fails (a full disk).
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/** Appends one line and fsyncs it: a crash right after loses nothing. */
export function appendLine(file: string, line: string): void {
  const fd = openSync(file, 'a');
  try {
    appendFileSync(fd, `${line}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Every file of a run folder, relative to it, sorted; `skip` names top-level folders to leave out. */
export function listRunFiles(dir: string, skip: string[] = []): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((e) => e.isFile() && !e.name.endsWith('.tmp'))
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .filter((f) => !skip.includes(f.split(path.sep)[0] as string))
    .sort();
}

/** The epochs recorded in a run folder's metrics.jsonl (none when it has no such file). */
export function readMetrics(dir: string): Record<string, unknown>[] {
  const file = path.join(dir, 'metrics.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** metrics.jsonl as the epochs' records. */
export const readEpochs = (dir: string): EpochMetrics[] => readMetrics(dir) as unknown as EpochMetrics[];

/** The run's config.yaml: the resolved experiment, any password in a URI masked. */
export const configText = (resolved: unknown): string => stringify(redactUris(resolved));

export function writeConfig(store: RunStore, resolved: unknown): void {
  store.writeText('config.yaml', configText(resolved));
}

const redactRemote = (url: string | null) => (url === null ? null : redactUri(url));

function git(args: string[]): string | null {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

/** Versions, host and source state, as the environment record of a run. */
export function environment(extra: Record<string, unknown>): Record<string, unknown> {
  return {
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    host: os.hostname(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memory_gib: Math.round(os.totalmem() / 2 ** 30),
    git_commit: git(['rev-parse', 'HEAD']),
    git_branch: git(['rev-parse', '--abbrev-ref', 'HEAD']),
    // A remote URL may carry a token (https://user:token@host/...).
    git_remote: redactRemote(git(['remote', 'get-url', 'origin'])),
    git_dirty: (git(['status', '--porcelain']) ?? '') !== '',
    ...extra,
  };
}
