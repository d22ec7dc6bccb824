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
  writeFileSync,
} from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { stringify } from 'yaml';

export type RunStatus = 'RUNNING' | 'FINISHED' | 'FAILED' | 'KILLED';

export interface RunStore {
  id: string;
  dir: string;
  writeJson(name: string, value: unknown): void;
  writeText(name: string, text: string): void;
  /** Appends one JSON line and fsyncs it: a crash right after loses nothing. */
  appendJsonl(name: string, value: unknown): void;
  setStatus(status: RunStatus, extra?: Record<string, unknown>): void;
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
  return openStore(dir, new Date().toISOString());
}

/** An existing run folder, to resume into: its records are kept and appended to. */
export function openRun(dir: string): RunStore {
  const status = JSON.parse(readFileSync(path.join(dir, 'status.json'), 'utf8')) as { started: string };
  return openStore(path.resolve(dir), status.started);
}

function openStore(dir: string, started: string): RunStore {
  const id = path.basename(dir);
  const store: RunStore = {
    id,
    dir,
    writeJson(name, value) {
      store.writeText(name, `${JSON.stringify(value, null, 2)}\n`);
    },
    writeText(name, text) {
      const file = path.join(dir, name);
      mkdirSync(path.dirname(file), { recursive: true });
      writeFileSync(`${file}.tmp`, text);
      renameSync(`${file}.tmp`, file);
    },
    appendJsonl(name, value) {
      appendLine(path.join(dir, name), JSON.stringify(value));
    },
    setStatus(status, extra = {}) {
      const ended = status === 'RUNNING' ? null : new Date().toISOString();
      store.writeJson('status.json', { status, started, ended, ...extra });
    },
  };
  store.setStatus('RUNNING');
  return store;
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

export function writeConfig(store: RunStore, resolved: unknown): void {
  store.writeText('config.yaml', stringify(resolved));
}

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
    git_remote: git(['remote', 'get-url', 'origin']),
    git_dirty: (git(['status', '--porcelain']) ?? '') !== '',
    ...extra,
  };
}
