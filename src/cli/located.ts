// A data problem that belongs to an experiment key becomes a located config
// error: the file, line and column where that key was written.
import type { Locator } from '../config/compose.ts';
import { ConfigErrors, DataError } from '../spec/errors.ts';

export async function locatingDataErrors<T>(locator: Locator, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (!(err instanceof DataError) || !err.key) throw err;
    const at = locator.locate(err.key);
    throw new ConfigErrors([
      { file: at.file, line: at.pos.line, col: at.pos.col, path: err.key, message: err.message },
    ]);
  }
}
