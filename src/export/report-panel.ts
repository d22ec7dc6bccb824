// report.html's drop-a-photo panel: the web export's page code, TF.js, the
// run's model files and (with a face crop) the detector's, all inlined, so a
// reviewer scores a photo with the run's own model and preprocessing in the
// report itself: no server, no network, nothing installed.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { esc } from '../report/run-report.ts';
import { PANEL_STYLE, photoPanel } from '../serve/page.ts';
import type { Experiment } from '../spec/experiment.ts';
import { detectorModelFile, tfjsBundle, WEB } from './web.ts';

/** MLflow's artifact view previews files up to 50 MB; the panel is left out of a report it would push past that. */
export const PANEL_LIMIT_BYTES = 45 * 1024 * 1024;

interface ModelJson {
  weightsManifest: { paths: string[]; weights: unknown[] }[];
  [key: string]: unknown;
}

/** A TF.js model.json and its weight files as one in-memory artifact (tf.io.fromMemory's form). */
function inMemory(modelJson: string): { artifacts: Record<string, unknown>; weights: string } {
  const { weightsManifest, ...rest } = JSON.parse(readFileSync(modelJson, 'utf8')) as ModelJson;
  const dir = path.dirname(modelJson);
  const weights = Buffer.concat(weightsManifest.flatMap((g) => g.paths.map((p) => readFileSync(path.join(dir, p)))));
  return {
    artifacts: { ...rest, weightSpecs: weightsManifest.flatMap((g) => g.weights) },
    weights: weights.toString('base64'),
  };
}

/** Script text safe inside <script>…</script>: no closing tag or comment opener can end it early. */
const scriptText = (src: string) => src.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');

/**
 * The panel's markup and scripts, or a note saying why there is none (a panel
 * that cannot be made costs the report nothing else). `modelJson`: the run's
 * saved model (what `run-exp predict` loads), carrying its classes and preprocessing.
 */
export function reportPanel(
  modelJson: string,
  preprocessing: Experiment['data']['preprocessing'],
): { html: string; inlined: boolean } {
  try {
    return inlinedPanel(modelJson, preprocessing);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { html: `<p class="note">No panel: ${esc(why)}</p>`, inlined: false };
  }
}

function inlinedPanel(
  modelJson: string,
  preprocessing: Experiment['data']['preprocessing'],
): { html: string; inlined: boolean } {
  const detector = detectorModelFile(preprocessing);
  const files = JSON.stringify({
    model: inMemory(modelJson),
    ...(detector ? { detector: inMemory(detector) } : {}),
  }).replace(/</g, '\\u003c');
  const tfjs = readFileSync(tfjsBundle(), 'utf8');
  // The web export's module, its exports made locals of a classic script (a page read from a string cannot import).
  const web = readFileSync(path.join(WEB, 'run-exp-web.js'), 'utf8').replace(/^export /gm, '');
  if (files.length + tfjs.length + web.length > PANEL_LIMIT_BYTES)
    return {
      html: `<p class="note">The model is too large to inline here (${((files.length + tfjs.length) / 2 ** 20).toFixed(0)} MB; MLflow previews files up to 50 MB): <code>run-exp export --format web</code> writes the same page as a folder.</p>`,
      inlined: false,
    };
  const panel = photoPanel({
    predict: `const files = JSON.parse($('panel-files').textContent);
const buffer = (b64) => { const s = atob(b64), a = new Uint8Array(s.length); for (let i = 0; i < s.length; i++) a[i] = s.charCodeAt(i); return a.buffer; };
const memory = (m) => tf.io.fromMemory({ ...m.artifacts, weightData: buffer(m.weights) });
const model = await runExpWeb.loadModel(memory(files.model), files.detector ? memory(files.detector) : undefined);
const predict = (file) => model.predict(file);`,
  });
  return {
    html: `<style>${PANEL_STYLE}</style>
<script>${scriptText(tfjs)}</script>
<script>(() => {
'use strict';
${scriptText(web)}
window.runExpWeb = { loadModel };
})();</script>
<script type="application/json" id="panel-files">${files}</script>
${panel}`,
    inlined: true,
  };
}
