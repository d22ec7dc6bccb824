// A run's records live on a disk that can fill up, turn read-only or fail.
// Such an error is not a bug: it becomes one line naming what was being
// written and where, and what to do, instead of an error object dump.
import { RunExpError } from '../spec/errors.ts';

const KINDS: Record<string, string> = {
  ENOSPC: 'disk full',
  EDQUOT: 'disk quota exceeded',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
};

export class RecordError extends RunExpError {
  override name = 'RecordError';
  constructor(
    readonly kind: string,
    /** What was being written (checkpoints/latest, metrics.jsonl) and the file or folder. */
    readonly what: string,
    readonly where: string,
    /** What the user can do about it. */
    advice?: string,
  ) {
    super(`${kind} while writing ${what} in ${where}${advice ? `: ${advice}` : ''}`, { exitCode: 1 });
  }
}

/** The RecordError for a file-system error, or null when `err` is something else. */
export function recordError(err: unknown, what: string, where: string): RecordError | null {
  if (err instanceof RecordError) return err;
  const kind = KINDS[(err as NodeJS.ErrnoException | undefined)?.code ?? ''];
  // tfjs-node's file writer rethrows without the code; its message still starts with it.
  const fromMessage = Object.keys(KINDS).find((c) => err instanceof Error && err.message.startsWith(`${c}:`));
  const k = kind ?? (fromMessage ? KINDS[fromMessage] : undefined);
  return k ? new RecordError(k, what, where) : null;
}

/** Runs `work`, turning a file-system error into a RecordError that says what was written where. */
export async function recording<T>(what: string, where: string, work: () => Promise<T> | T): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw recordError(err, what, where) ?? err;
  }
}
