// The run's log: pino JSON lines in the run folder, written synchronously so a
// crash loses no line. The terminal gets run-exp's own readable lines instead.
import * as path from 'node:path';
import pino, { type Logger } from 'pino';

export function runLogger(dir: string): Logger {
  return pino(
    { base: null, timestamp: pino.stdTimeFunctions.isoTime },
    pino.destination({ dest: path.join(dir, 'log.jsonl'), sync: true, mkdir: true }),
  );
}
