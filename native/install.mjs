// @ts-check
// Stages libtensorflow for @tensorflow/tfjs-node without Google storage.
//
// postinstall.mjs calls it before it runs tfjs-node's own install script. When
// tfjs-node's own download cannot happen, it takes the libtensorflow C API
// libraries and headers out of a pinned, checksum-verified TensorFlow wheel
// from PyPI, caches them, and puts them where tfjs-node's scripts/install.js
// looks: that script then only builds the binding.
//
// Settings (environment, or the same name in lower case in .npmrc as npm config):
//   RUN_EXP_TF_SOURCE   auto (default) | pypi | google
//   RUN_EXP_TF_VERSION  a version listed in builds.json (default: its "default")
//   RUN_EXP_TF_WHEEL    a wheel file already on disk (skips the download)
//   RUN_EXP_PYPI_URL    PyPI-compatible JSON API base (default https://pypi.org)
//   RUN_EXP_CACHE_DIR   cache root (default $XDG_CACHE_HOME/run-exp or ~/.cache/run-exp)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import yauzl from 'yauzl';

const here = path.dirname(fileURLToPath(import.meta.url));
const GOOGLE_PROBE =
  'https://storage.googleapis.com/tensorflow/libtensorflow/libtensorflow-cpu-linux-x86_64-2.9.1.tar.gz';
// tfjs-node 4.x's install.js checks for exactly these names before downloading.
const TFJS_LIB_VERSION = '2.9.1';

/** @param {string} name */
function setting(name) {
  return process.env[name] ?? process.env[`npm_config_${name.toLowerCase()}`];
}

/** @param {string} msg */
function say(msg) {
  process.stderr.write(`run-exp libtensorflow: ${msg}\n`);
}

export function cacheRoot() {
  const explicit = setting('RUN_EXP_CACHE_DIR');
  if (explicit) return path.resolve(explicit);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'run-exp');
}

/** @typedef {{version: string, project: string, filename: string, sha256: string}} Build */

/** @returns {Promise<Build>} */
export async function chosenBuild() {
  const table = JSON.parse(await fs.readFile(path.join(here, 'builds.json'), 'utf8'));
  const version = setting('RUN_EXP_TF_VERSION') || table.default;
  const build = table.builds[version];
  if (!build) {
    throw new Error(
      `RUN_EXP_TF_VERSION=${version} is not a pinned build; choose one of: ${Object.keys(table.builds).join(', ')}`,
    );
  }
  return { version, ...build };
}

/** @param {string} url @param {number} ms */
async function reachable(url, ms) {
  try {
    const res = await fetch(url, { method: 'HEAD', signal: AbortSignal.timeout(ms) });
    return res.ok;
  } catch {
    return false;
  }
}

/** @param {string} file */
async function sha256Of(file) {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Downloads the pinned wheel to `dest`, verifying its checksum on the way. @param {Build} build @param {string} dest */
async function downloadWheel(build, dest) {
  const base = (setting('RUN_EXP_PYPI_URL') || 'https://pypi.org').replace(/\/$/, '');
  // The project-level document: some PyPI mirrors do not serve the per-version one.
  const api = `${base}/pypi/${build.project}/json`;
  const meta = await fetch(api, { signal: AbortSignal.timeout(60_000) });
  if (!meta.ok) throw new Error(`${api} answered ${meta.status}`);
  const info = /** @type {{releases: Record<string, {filename: string, url: string}[]>}} */ (await meta.json());
  const file = (info.releases[build.version] ?? []).find((u) => u.filename === build.filename);
  if (!file) throw new Error(`${api} does not list ${build.filename}`);
  const url = new URL(file.url, api).href;
  say(`downloading ${build.filename} from ${new URL(url).host}`);
  const res = await fetch(url);
  if (!res.ok || !res.body) throw new Error(`${url} answered ${res.status}`);
  const hash = createHash('sha256');
  const body = Readable.fromWeb(/** @type {any} */ (res.body));
  body.on('data', (chunk) => hash.update(chunk));
  await pipeline(body, createWriteStream(dest));
  const got = hash.digest('hex');
  if (got !== build.sha256)
    throw new Error(`checksum mismatch for ${build.filename}: got ${got}, pinned ${build.sha256}`);
}

/** @param {string} zipPath @returns {Promise<import('yauzl').ZipFile>} */
function openZip(zipPath) {
  return new Promise((resolve, reject) =>
    yauzl.open(zipPath, { lazyEntries: true, autoClose: false }, (err, zip) => (err ? reject(err) : resolve(zip))),
  );
}

/** @param {import('yauzl').ZipFile} zip @returns {Promise<Map<string, import('yauzl').Entry>>} */
function listEntries(zip) {
  return new Promise((resolve, reject) => {
    const entries = new Map();
    zip.on('entry', (e) => {
      entries.set(e.fileName, e);
      zip.readEntry();
    });
    zip.on('end', () => resolve(entries));
    zip.on('error', reject);
    zip.readEntry();
  });
}

/** @param {import('yauzl').ZipFile} zip @param {import('yauzl').Entry} entry @returns {Promise<import('node:stream').Readable>} */
function entryStream(zip, entry) {
  return new Promise((resolve, reject) =>
    zip.openReadStream(entry, (err, stream) => (err ? reject(err) : resolve(stream))),
  );
}

/** @param {import('yauzl').ZipFile} zip @param {import('yauzl').Entry} entry */
async function entryText(zip, entry) {
  const chunks = [];
  for await (const c of /** @type {AsyncIterable<Buffer>} */ (await entryStream(zip, entry))) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * The TensorFlow headers that tfjs-node's binding sources include directly.
 * @param {string} tfjsDir @returns {Promise<string[]>}
 */
export async function bindingIncludes(tfjsDir) {
  const dir = path.join(tfjsDir, 'binding');
  const roots = new Set();
  for (const f of await fs.readdir(dir)) {
    const text = await fs.readFile(path.join(dir, f), 'utf8');
    for (const m of text.matchAll(/^\s*#\s*include\s+"(tensorflow\/[^"]+)"/gm)) roots.add(m[1]);
  }
  return [...roots].sort();
}

/**
 * The headers the binding needs: the closure of quoted includes reachable from
 * its roots, instead of all of the wheel's 290 MB of headers.
 * @param {import('yauzl').ZipFile} zip @param {Map<string, import('yauzl').Entry>} entries
 * @param {string} prefix @param {string[]} roots
 */
async function headerClosure(zip, entries, prefix, roots) {
  const seen = new Set();
  const todo = [...roots];
  while (todo.length) {
    const rel = /** @type {string} */ (todo.pop());
    if (seen.has(rel)) continue;
    const entry = entries.get(prefix + rel);
    if (!entry) continue; // a system or third-party header the wheel does not ship
    seen.add(rel);
    const text = await entryText(zip, entry);
    for (const m of text.matchAll(/^\s*#\s*include\s+"([^"]+)"/gm)) todo.push(/** @type {string} */ (m[1]));
  }
  for (const root of roots) if (!seen.has(root)) throw new Error(`the wheel lacks ${root}`);
  return [...seen];
}

/**
 * Extracts the libraries and the headers closed over `roots` of `wheel` into the folder `out`.
 * @param {string} wheel @param {string} out @param {string[]} roots
 */
async function extractWheel(wheel, out, roots) {
  const zip = await openZip(wheel);
  try {
    const entries = await listEntries(zip);
    const files = new Map([
      ['tensorflow/libtensorflow_cc.so.2', 'lib/libtensorflow_cc.so.2'],
      ['tensorflow/libtensorflow_framework.so.2', 'lib/libtensorflow_framework.so.2'],
    ]);
    for (const h of await headerClosure(zip, entries, 'tensorflow/include/', roots))
      files.set(`tensorflow/include/${h}`, `include/${h}`);
    for (const [from, to] of files) {
      const entry = entries.get(from);
      if (!entry) throw new Error(`the wheel lacks ${from}`);
      await fs.mkdir(path.dirname(path.join(out, to)), { recursive: true });
      await pipeline(await entryStream(zip, entry), createWriteStream(path.join(out, to)));
    }
  } finally {
    zip.close();
  }
}

/**
 * Returns the cache folder holding lib/ and include/ of the build, filling it on
 * a miss. The key covers the wheel and the header roots the binding asks for.
 * @param {Build} build @param {string[]} roots
 */
export async function ensureCached(build, roots) {
  const rootsHash = createHash('sha256').update(roots.join('\n')).digest('hex').slice(0, 8);
  const dir = path.join(cacheRoot(), 'libtensorflow', `${build.version}-${build.sha256.slice(0, 12)}-${rootsHash}`);
  if (existsSync(path.join(dir, 'complete.json'))) {
    say(`using cached libtensorflow ${build.version} from ${dir}`);
    return dir;
  }
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const work = await fs.mkdtemp(`${dir}.tmp-`);
  try {
    let wheel = setting('RUN_EXP_TF_WHEEL');
    if (wheel) {
      const got = await sha256Of(wheel);
      if (got !== build.sha256) throw new Error(`RUN_EXP_TF_WHEEL ${wheel} has sha256 ${got}, pinned ${build.sha256}`);
    } else {
      wheel = path.join(work, build.filename);
      await downloadWheel(build, wheel);
    }
    await extractWheel(wheel, path.join(work, 'out'), roots);
    await fs.writeFile(
      path.join(work, 'out', 'complete.json'),
      JSON.stringify({ ...build, cachedAt: new Date().toISOString() }, null, 2),
    );
    await fs.rm(dir, { recursive: true, force: true });
    await fs.rename(path.join(work, 'out'), dir);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
  say(`cached libtensorflow ${build.version} in ${dir}`);
  return dir;
}

/** Hard-links when the cache is on the same file system (instant, no space), else copies. @param {string} from @param {string} to */
async function linkOrCopy(from, to) {
  await fs.rm(to, { force: true });
  try {
    await fs.link(from, to);
  } catch {
    await fs.copyFile(from, to);
  }
}

/**
 * Puts the cached build into tfjs-node's deps/ under the names its install script and the linker expect.
 * @param {string} cached @param {string} tfjsDir
 */
export async function stage(cached, tfjsDir) {
  const deps = path.join(tfjsDir, 'deps');
  await fs.rm(deps, { recursive: true, force: true });
  await fs.mkdir(path.join(deps, 'lib'), { recursive: true });
  for (const f of ['libtensorflow_cc.so.2', 'libtensorflow_framework.so.2']) {
    await linkOrCopy(path.join(cached, 'lib', f), path.join(deps, 'lib', f));
  }
  const links = {
    [`libtensorflow.so.${TFJS_LIB_VERSION}`]: 'libtensorflow_cc.so.2',
    [`libtensorflow_framework.so.${TFJS_LIB_VERSION}`]: 'libtensorflow_framework.so.2',
    'libtensorflow.so': 'libtensorflow_cc.so.2',
    'libtensorflow_framework.so': 'libtensorflow_framework.so.2',
  };
  for (const [name, target] of Object.entries(links)) await fs.symlink(target, path.join(deps, 'lib', name));
  await fs.cp(path.join(cached, 'include'), path.join(deps, 'include'), { recursive: true });
  await fs.copyFile(path.join(cached, 'complete.json'), path.join(deps, 'run-exp-build.json'));
}

/**
 * node-gyp downloads Node's headers unless told where they are. When this Node
 * ships its headers, register them in node-gyp's cache so the build stays offline.
 */
export async function ensureNodeHeaders() {
  if (setting('NODEDIR') || process.env.npm_config_nodedir) return;
  const headers = path.resolve(path.dirname(process.execPath), '..', 'include', 'node');
  if (!existsSync(path.join(headers, 'common.gypi'))) {
    say(`no Node headers beside ${process.execPath}; node-gyp will try to download them`);
    return;
  }
  const devDir =
    process.env.npm_config_devdir ||
    path.join(process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache'), 'node-gyp');
  const target = path.join(devDir, process.version.slice(1));
  if (existsSync(path.join(target, 'include', 'node', 'common.gypi'))) return;
  await fs.mkdir(path.join(target, 'include'), { recursive: true });
  await fs.symlink(headers, path.join(target, 'include', 'node'));
  // node-gyp re-fetches when this number is below its own (11 in node-gyp 9 to 12).
  await fs.writeFile(path.join(target, 'installVersion'), '11\n');
  say(`registered Node headers ${headers} for node-gyp`);
}

/**
 * Builds the node-gyp addon in `dir` (one of run-exp's own: native/jpeg,
 * native/graph), offline with Node's own headers. A failed build is not a
 * failed install: `without` says what runs instead, and `run-exp doctor` too.
 * @param {string} dir @param {string} what @param {string} without
 */
export async function buildAddon(dir, what, without) {
  await ensureNodeHeaders();
  const gyp = process.env.npm_config_node_gyp;
  const r = gyp
    ? spawnSync(process.execPath, [gyp, 'rebuild'], { cwd: dir, stdio: 'inherit' })
    : spawnSync('node-gyp', ['rebuild'], { cwd: dir, stdio: 'inherit' });
  if (r.status !== 0) process.stderr.write(`run-exp: ${what} did not build; ${without}\n`);
}

export function tfjsNodeDir() {
  const require = createRequire(path.join(process.env.INIT_CWD || process.cwd(), 'package.json'));
  try {
    return path.dirname(require.resolve('@tensorflow/tfjs-node/package.json'));
  } catch {
    return path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-node/package.json'));
  }
}

/** Stages libtensorflow into tfjs-node's deps/ unless it is there already or tfjs-node can fetch its own. */
export async function stageLibtensorflow() {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    say(`the PyPI route covers linux-x64 only; leaving ${process.platform}-${process.arch} to tfjs-node's own install`);
    return;
  }
  const source = setting('RUN_EXP_TF_SOURCE') || 'auto';
  if (!['auto', 'pypi', 'google'].includes(source))
    throw new Error(`RUN_EXP_TF_SOURCE must be auto, pypi or google, not ${source}`);
  const tfjsDir = tfjsNodeDir();
  const build = await chosenBuild();
  const staged = path.join(tfjsDir, 'deps', 'run-exp-build.json');
  if (existsSync(staged) && JSON.parse(await fs.readFile(staged, 'utf8')).sha256 === build.sha256) {
    say(`libtensorflow ${build.version} already staged`);
    return;
  }
  if (source === 'google') return;
  if (source === 'auto' && (await reachable(GOOGLE_PROBE, 5000))) {
    say('Google storage is reachable: tfjs-node downloads libtensorflow itself');
    return;
  }
  await stage(await ensureCached(build, await bindingIncludes(tfjsDir)), tfjsDir);
  await ensureNodeHeaders();
  say(`staged libtensorflow ${build.version} into ${path.join(tfjsDir, 'deps')}; tfjs-node builds its binding next`);
}
