// The run's log: pino JSON lines in the run folder, written synchronously so a
// crash loses no line. On the terminal (stderr) the same log's warnings and
// errors appear through pino-pretty; the per-epoch lines there are run-exp's own.
import * as path from 'node:path';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { recordError } from './record-errors.ts';

export interface TerminalLog {
  /** Colours, when stderr is a terminal and NO_COLOR is unset. */
  colorize: boolean;
}

export function runLogger(dir: string, terminal?: TerminalLog): Logger {
  const file = pino.destination({ dest: path.join(dir, 'log.jsonl'), sync: true, mkdir: true });
  // A failed write (a full disk) surfaces from the logging call, saying what was being written.
  file.on('error', (err) => {
    throw recordError(err, 'log.jsonl', dir) ?? err;
  });
  const options = { base: null, timestamp: pino.stdTimeFunctions.isoTime };
  if (!terminal) return pino(options, file);
  const screen = pretty({
    destination: 2,
    sync: true,
    colorize: terminal.colorize,
    ignore: 'event',
    translateTime: 'SYS:HH:MM:ss',
  });
  return pino(
    options,
    pino.multistream([
      { stream: file, level: 'info' },
      { stream: screen, level: 'warn' },
    ]),
  );
}
