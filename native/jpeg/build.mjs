// Builds the JPEG fast path with node-gyp (offline: Node's own headers are
// registered first, as for tfjs-node's binding). A failed build is not a failed
// install: sharp then decodes every image, and `run-exp doctor` says so.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';

// The libtensorflow installer (a sibling package) knows where Node's headers are.
const installer = createRequire(import.meta.url).resolve('@run-exp/libtensorflow');
const { ensureNodeHeaders } = await import(installer);
await ensureNodeHeaders();
const gyp = process.env.npm_config_node_gyp;
const r = gyp
  ? spawnSync(process.execPath, [gyp, 'rebuild'], { stdio: 'inherit' })
  : spawnSync('node-gyp', ['rebuild'], { stdio: 'inherit' });
if (r.status !== 0) {
  process.stderr.write(
    'run-exp jpeg: the JPEG fast path did not build; sharp decodes every image (slower for small JPEGs)\n',
  );
}
