// Vitest global setup: every temporary folder the tests make (fixtures, run
// folders, MLflow servers' stores) goes under one root for the run, removed
// when it ends, so repeated test runs do not fill the disk; MLflow's
// telemetry off in every Python process the tests start.
import { mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const MARK = 'RUN_EXP_TEST_TMP';

export default function setup(): () => void {
  // Each vitest project runs its global setup: the first makes the root, the others share it.
  if (process.env[MARK]) return () => {};
  // Short: Chromium's socket under it must fit a Unix socket path (108 bytes).
  const root = mkdtempSync(path.join(os.tmpdir(), 'rxt-'));
  process.env[MARK] = root;
  // Read by os.tmpdir() and Python's tempfile in this process and every test process it starts.
  process.env.TMPDIR = root;
  // MLflow 3's telemetry thread (its reports go nowhere here) unsets an environment variable while
  // the client's other threads read os.environ: now and then a KeyError in a test's MLflow client.
  process.env.MLFLOW_DISABLE_TELEMETRY ??= 'true';
  return () => rmSync(root, { recursive: true, force: true });
}
