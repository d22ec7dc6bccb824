// Errors a user can act on. Each is a RunExpError: it says what to do, carries
// its exit code (2 for bad input, 1 for a failure outside the user's input)
// and, where it has one, the experiment key or the file location; only the CLI
// turns them into text and exit codes. Anything else that reaches the CLI is a bug.

export class RunExpError extends Error {
  override name = 'RunExpError';
  /** 2: bad input (config, data, arguments); 1: something failed that the input did not cause. */
  readonly exitCode: 1 | 2;
  /** The experiment key the problem belongs to (the CLI points at where it was written), if any. */
  readonly key: string | undefined;
  constructor(message: string, options: { exitCode?: 1 | 2; key?: string } = {}) {
    super(message);
    this.exitCode = options.exitCode ?? 2;
    this.key = options.key;
  }
  /** The text the CLI prints: one line (a config error: one per problem), no stack. */
  display(): string {
    return `run-exp: ${this.message}`;
  }
}

/** Bad data, or a data or model file the experiment points at: exit 2, at the experiment key when there is one. */
export class DataError extends RunExpError {
  override name = 'DataError';
  constructor(message: string, key?: string) {
    super(message, { exitCode: 2, ...(key ? { key } : {}) });
  }
  override display(): string {
    return `${this.key ? `${this.key}  ` : 'data error: '}${this.message}`;
  }
}

export interface ConfigError {
  /** The file (or `--set <arg>` for a command-line override). */
  file: string;
  line: number;
  col: number;
  /** Dotted key path with list indexes, e.g. `model.layers[2].filters`; empty for the whole file. */
  path: string;
  message: string;
}

export class ConfigErrors extends RunExpError {
  override name = 'ConfigErrors';
  constructor(readonly errors: ConfigError[]) {
    super(errors.map(formatError).join('\n'));
  }
  override display(): string {
    return this.message;
  }
}

export function formatError(e: ConfigError): string {
  // A command-line override has no lines to point at.
  const where = e.file.startsWith('--set ') ? e.file : `${e.file}:${e.line}:${e.col}`;
  return `${where}  ${e.path || '(file)'}  ${e.message}`;
}

export type PathPart = string | number;

export function formatPath(parts: readonly PathPart[]): string {
  let out = '';
  for (const p of parts) out += typeof p === 'number' ? `[${p}]` : out ? `.${p}` : p;
  return out;
}

/** Levenshtein distance, for did-you-mean hints. */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] as number;
      row[j] = Math.min(
        cur + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1),
      );
      prev = cur;
    }
  }
  return row[b.length] as number;
}

/** The closest candidate to a misspelling, if it is close enough to be a likely typo. */
export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Number.POSITIVE_INFINITY;
  for (const c of candidates) {
    const d = distance(word, c);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

/** Errors without repeats of the same message at the same path (a block used many times repeats its own). */
export function uniqueErrors<E extends Pick<ConfigError, 'path' | 'message'>>(errors: E[]): E[] {
  return errors.filter((e, i) => errors.findIndex((o) => o.path === e.path && o.message === e.message) === i);
}
