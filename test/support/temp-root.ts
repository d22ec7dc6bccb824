// Vitest global setup: every temporary folder the tests make (fixtures, run
// folders, MLflow servers' stores) goes under one root for the run, removed
// when it ends, so repeated test runs do not fill the disk.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export default function setup(): () => void {
  const root = mkdtempSync(path.join(os.tmpdir(), 'run-exp-tests-'));
  // Read by os.tmpdir() and Python's tempfile in this process and every test process it starts.
  process.env.TMPDIR = root;
  return () => rmSync(root, { recursive: true, force: true });
}
