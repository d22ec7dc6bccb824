// docs/reference.md, generated from the registries: every layer, optimizer,
// loss, schedule and augmentation with its params, defaults and docs lines,
// and the sweep section from its schema.

import { AUGMENTATIONS, type AugmentationEntry, type Stage } from '../spec/augmentations.ts';
import { BACKBONES, type BackboneEntry } from '../spec/backbones.ts';
import { CROPS } from '../spec/crops.ts';
import { DETECTORS, type DetectorEntry } from '../spec/detectors.ts';
import { LAYER_GRAPH_KEYS, LAYERS } from '../spec/layers.ts';
import { LOSSES } from '../spec/losses.ts';
import { OPTIMIZERS } from '../spec/optimizers.ts';
import { OUTPUT_TYPES } from '../spec/outputs.ts';
import type { Param, Params } from '../spec/params.ts';
import type { PinnedFiles } from '../spec/pinned.ts';
import { SCHEDULES } from '../spec/schedules.ts';
import { experimentSchema } from './schema.ts';
import { sweepSchema } from './sweep-schema.ts';

function typeText(p: Param): string {
  switch (p.type) {
    case 'enum':
      return p.values.join(' \\| ');
    case 'pair':
      return `integer or [h, w], >= ${p.minimum}`;
    case 'shape':
      return 'list of integers';
    case 'range':
      return `[low, high], each in [${p.minimum}, ${p.maximum}]`;
    case 'strings':
      return 'list of names';
    case 'choices':
      return `list of ${p.values.join(' \\| ')}`;
    case 'numbers':
      return 'list of numbers';
    case 'map':
      return 'map of value -> name';
    case 'weights':
      return p.per === 'name' ? '`balanced` or map of name -> weight' : '`balanced` or list of weights, one per band';
    case 'integer':
    case 'number': {
      const lo =
        p.minimum !== undefined
          ? `>= ${p.minimum}`
          : 'exclusiveMinimum' in p && p.exclusiveMinimum !== undefined
            ? `> ${p.exclusiveMinimum}`
            : '';
      const hi = p.maximum !== undefined ? `<= ${p.maximum}` : '';
      return [p.type, [lo, hi].filter(Boolean).join(', ')].filter(Boolean).join(' ');
    }
    default:
      return p.type;
  }
}

function section(
  title: string,
  intro: string,
  entries: Record<string, { doc: string; params: Params; className?: string }>,
): string[] {
  const out = [`## ${title}`, '', intro, ''];
  for (const [type, e] of Object.entries(entries)) {
    out.push(`### \`${type}\`${e.className ? ` (model.json class \`${e.className}\`)` : ''}`, '', `${e.doc}.`, '');
    const params = Object.entries(e.params);
    if (params.length === 0) {
      out.push('No parameters.', '');
      continue;
    }
    const defaultOf = (p: Param) =>
      p.required
        ? '**required**'
        : 'default' in p && p.default !== undefined
          ? `\`${JSON.stringify(p.default)}\``
          : '-';
    out.push(
      ...table(
        ['param', 'type', 'default', 'meaning'],
        params.map(([name, p]) => [`\`${name}\``, typeText(p), defaultOf(p), p.doc]),
      ),
      '',
    );
  }
  return out;
}

type Properties = Record<string, Record<string, unknown>>;

/** A markdown table. */
const table = (headers: string[], rows: string[][]): string[] => [
  `| ${headers.join(' | ')} |`,
  `| ${headers.map(() => '---').join(' | ')} |`,
  ...rows.map((r) => `| ${r.join(' | ')} |`),
];

/** A section that is one table. */
const tableSection = (title: string, intro: string, headers: string[], rows: string[][]): string[] => [
  `## ${title}`,
  '',
  intro,
  '',
  ...table(headers, rows),
  '',
];

/** Keys of a plain (non-registry) part of the schema, as a table. */
function keysTable(title: string, intro: string, properties: Properties): string[] {
  const type = (p: Record<string, unknown>) =>
    p.enum ? (p.enum as string[]).join(' \\| ') : p.type === 'array' ? 'list' : String(p.type);
  return tableSection(
    title,
    intro,
    ['key', 'type', 'default', 'meaning'],
    Object.entries(properties).map(([k, p]) => [
      `\`${k}\``,
      type(p),
      p.default === undefined ? '-' : `\`${JSON.stringify(p.default)}\``,
      String(p.description),
    ]),
  );
}

/** Weight files and their sha256, one per line of a table cell. */
const weightFiles = (files: Record<string, string>) =>
  Object.entries(files)
    .map(([f, sha]) => `\`${f}\` ${sha}`)
    .join('<br>');

/** Networks whose weights ship in pinned npm packages (detectors, backbones): a row each, `columns` between licence and files. */
function pinnedSection<E extends PinnedFiles & { doc: string; licence: string }>(
  title: string,
  intro: string,
  entries: Record<string, E>,
  columns: [string, (e: E) => string][],
): string[] {
  return tableSection(
    title,
    intro,
    ['name', 'package', 'licence', ...columns.map(([h]) => h), 'weight files (sha256)', 'what it is'],
    Object.entries(entries).map(([name, e]) => [
      `\`${name}\``,
      `\`${e.package}@${e.version}\``,
      e.licence,
      ...columns.map(([, cell]) => cell(e)),
      weightFiles(e.files),
      e.doc,
    ]),
  );
}

function detectorsSection(): string[] {
  return pinnedSection(
    'Face detectors',
    "Values of `crop.detector`. Weights ship inside the npm package named (installed with run-exp, never downloaded); the version and each file's sha256 are checked before use.",
    DETECTORS as Record<string, DetectorEntry>,
    [],
  );
}

function augmentationIntro(): string {
  const of = (stage: Stage) =>
    Object.entries(AUGMENTATIONS as Record<string, AugmentationEntry>)
      .filter(([, a]) => a.stage === stage)
      .map(([name]) => `\`${name}\``)
      .join(', ');
  return [
    'Items of `data.augmentation`: `{ type: <name>, ...params }`, applied to each training batch in the order listed.',
    `Consecutive geometric steps (${of('geometry')}) are composed into one bilinear resampling per image (edges reflected);`,
    `consecutive colour steps (${of('colour')}) into one per-image colour transform, clipped to [0, 1] once;`,
    `${of('pixels')} apply where they stand; ${of('mix')} run last, on the finished batch.`,
  ].join(' ');
}

function backbonesSection(): string[] {
  return pinnedSection(
    'Backbones',
    "Values of `model.backbone.from`. Each is rebuilt from tf.layers, so its layers are part of the run's model (named `backbone/...`, saved in `model/`) and can be fine-tuned with `trainable`. Weights ship inside the npm package named (installed with run-exp, never downloaded); the version and each file's sha256 are checked before use. Only networks trained for something other than the experiment's labels are listed.",
    BACKBONES as Record<string, BackboneEntry>,
    [
      ['trained for', (b) => b.trained_for],
      ['input', (b) => b.input.join('x')],
      ['features', (b) => String(b.features)],
    ],
  );
}

export function referenceDoc(): string {
  const sweep = sweepSchema() as { description: string; properties: Properties };
  const dataSchema = (experimentSchema().properties as Properties).data as Record<string, unknown>;
  return [
    '# run-exp reference',
    '',
    'Generated from the registries in `src/` by `npm run docs`; a test fails when it is out of date.',
    '',
    ...section(
      'Layers',
      [
        'Items of `model.layers`: `{ type: <name>, ...params }`. Every layer may also carry',
        Object.entries(LAYER_GRAPH_KEYS)
          .map(([k, v]) => `\`${k}\`: ${v.description}`)
          .join('; '),
      ].join(' ') +
        ".\n\nThe last layer listed is the model's output; every other layer's output must be read by some layer.",
      LAYERS,
    ),
    ...section('Optimizers', '`training.optimizer`: `{ type: <name>, ...params }`, or just the name.', OPTIMIZERS),
    ...section('Losses', '`training.loss`: `{ type: <name>, ...params }`, or just the name.', LOSSES),
    ...section(
      'Outputs',
      "Values of `outputs.<name>`: `{ type: <name>, from: <label source>, ...params, head: [layers] }`. Each output is a head on the trunk (the last of `model.layers`): its `head` layers, then a unit layer run-exp adds (softmax, sigmoid or linear, of the right size). The model minimizes the sum of the outputs' losses, each times its `loss_weight`; an image without one output's label trains the others.",
      OUTPUT_TYPES,
    ),
    ...section('Learning-rate schedules', '`training.lr_schedule`: `{ type: <name>, ...params }`.', SCHEDULES),
    ...section('Augmentations', augmentationIntro(), AUGMENTATIONS),
    ...section('Crops', '`data.preprocessing.crop`: `{ type: <name>, ...params }`.', CROPS),
    ...detectorsSection(),
    ...backbonesSection(),
    ...keysTable(
      'Evaluation',
      'Keys of `data` that say how models are scored: data from elsewhere, scored with the final model of every run, and test-time flipping.',
      Object.fromEntries(
        ['evaluation_sets', 'evaluation_every', 'test_time_flip'].map((k) => [
          k,
          (dataSchema.properties as Properties)[k] ?? {},
        ]),
      ),
    ),
    ...keysTable('Sweep', `\`sweep\`: ${sweep.description}.`, sweep.properties),
  ].join('\n');
}
