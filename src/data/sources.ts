// Data sources: which image files there are and their labels. Three kinds: an
// image folder with one sub-folder per class, labels parsed from file names,
// and a CSV or JSON-lines manifest.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { DataError } from '../spec/errors.ts';
import type { Experiment } from '../spec/experiment.ts';

export interface Item {
  /** Absolute path of the image file. */
  path: string;
  /** Index into `classes`. */
  label: number;
  /** A manifest row's columns (what a report can slice by). */
  attributes?: Record<string, string>;
}

export interface Listing {
  classes: string[];
  items: Item[];
  /** Items of separate validation / test folders, when the experiment names them. */
  validation?: Item[];
  test?: Item[];
}

/** The part of an experiment's data section that says where the images are. */
export type DataSpec = Pick<
  Experiment['data'],
  | 'source'
  | 'path'
  | 'validation_path'
  | 'test_path'
  | 'classes'
  | 'pattern'
  | 'label_map'
  | 'path_column'
  | 'label_column'
>;

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;

function listDir(dir: string, what: string): string[] {
  if (!existsSync(dir)) throw new DataError(`${what} ${dir} does not exist`);
  if (!statSync(dir).isDirectory()) throw new DataError(`${what} ${dir} is not a folder`);
  return readdirSync(dir).sort();
}

function classIndex(classes: string[], name: string, where: string): number {
  const i = classes.indexOf(name);
  if (i < 0) throw new DataError(`${where}: label '${name}' is not one of the classes ${classes.join(', ')}`);
  return i;
}

/** One sub-folder per class; files anywhere below it. */
function folderItems(root: string, classes: string[] | undefined): { classes: string[]; items: Item[] } {
  const found = listDir(root, 'data folder').filter((d) => statSync(path.join(root, d)).isDirectory());
  const names = classes ?? found;
  if (names.length < 2)
    throw new DataError(
      `${root} has ${names.length} class folder(s); a classifier needs at least 2 (one sub-folder per class)`,
    );
  const items: Item[] = [];
  names.forEach((cls, label) => {
    const dir = path.join(root, cls);
    if (!found.includes(cls))
      throw new DataError(
        `class folder ${dir} does not exist (classes: ${names.join(', ')}; found: ${found.join(', ') || 'none'})`,
      );
    const before = items.length;
    const walk = (d: string) => {
      for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else if (!e.name.startsWith('.')) items.push({ path: p, label });
      }
    };
    walk(dir);
    if (items.length === before) throw new DataError(`class '${cls}' is empty: no files in ${dir}`);
  });
  return { classes: names, items };
}

/**
 * Labels from file names: a regular expression with a named group `label`,
 * mapped through label_map; every named group is an attribute of the item
 * (what outputs and report slices read). `classless`: the class is not
 * wanted (outputs read other groups), so files need not have a `label`.
 */
function filenameItems(root: string, data: DataSpec, classless: boolean): { classes: string[]; items: Item[] } {
  if (!data.pattern)
    throw new DataError('data.source filename needs data.pattern, a regular expression with a named group `label`');
  let re: RegExp;
  try {
    re = new RegExp(data.pattern);
  } catch (err) {
    throw new DataError(`data.pattern is not a valid regular expression: ${(err as Error).message}`);
  }
  const map = data.label_map ?? {};
  const files: { path: string; cls: string; attributes: Record<string, string> }[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (IMAGE_EXT.test(e.name)) {
        const m = re.exec(e.name);
        if (!m) continue; // names the pattern does not describe are not data
        const attributes = Object.fromEntries(
          Object.entries(m.groups ?? {}).filter((g): g is [string, string] => g[1] !== undefined),
        );
        if (classless) {
          files.push({ path: p, cls: '', attributes });
          continue;
        }
        const raw = m.groups?.label;
        if (raw === undefined) continue;
        const cls = map[raw] ?? (data.label_map ? undefined : raw);
        if (cls !== undefined) files.push({ path: p, cls, attributes });
      }
    }
  };
  listDir(root, 'data folder');
  walk(root);
  if (classless) {
    if (files.length === 0) throw new DataError(`data.pattern matches no image file name in ${root}`);
    return { classes: [], items: files.map((f) => ({ path: f.path, label: 0, attributes: f.attributes })) };
  }
  const classes = data.classes ?? [...new Set(files.map((f) => f.cls))].sort();
  if (classes.length < 2)
    throw new DataError(`data.pattern matched ${classes.length} class(es) in ${root}; a classifier needs at least 2`);
  const items = files
    .filter((f) => classes.includes(f.cls))
    .map((f) => ({ path: f.path, label: classes.indexOf(f.cls), attributes: f.attributes }));
  for (const [i, cls] of classes.entries()) {
    if (!items.some((it) => it.label === i))
      throw new DataError(`class '${cls}' is empty: no file name in ${root} maps to it`);
  }
  return { classes, items };
}

/** A CSV (header row, comma-separated, optional double quotes) or JSON-lines manifest; `classless`: no label column wanted. */
function manifestItems(file: string, data: DataSpec, classless: boolean): { classes: string[]; items: Item[] } {
  if (!existsSync(file)) throw new DataError(`manifest ${file} does not exist`);
  const text = readFileSync(file, 'utf8');
  const rows: Record<string, string>[] = [];
  if (/\.jsonl?$/i.test(file)) {
    text.split(/\r?\n/).forEach((line, i) => {
      if (!line.trim()) return;
      try {
        rows.push(JSON.parse(line));
      } catch {
        throw new DataError(`${file}:${i + 1}: not a JSON object`);
      }
    });
  } else {
    const split = (line: string) =>
      [...line.matchAll(/(?:^|,)("(?:[^"]|"")*"|[^,]*)/g)].map((m) =>
        (m[1] ?? '').replace(/^"|"$/g, '').replace(/""/g, '"').trim(),
      );
    const [header, ...lines] = text.split(/\r?\n/).filter((l) => l.trim());
    const cols = split(header ?? '');
    for (const line of lines) rows.push(Object.fromEntries(split(line).map((v, i) => [cols[i] ?? `${i}`, v])));
  }
  const base = path.dirname(file);
  const classes = classless ? [] : (data.classes ?? [...new Set(rows.map((r) => String(r[data.label_column])))].sort());
  const items = rows.map((r, i) => {
    const p = r[data.path_column];
    const l = classless ? '' : r[data.label_column];
    if (p === undefined || l === undefined) {
      throw new DataError(`${file}: row ${i + 1} lacks '${data.path_column}' or '${data.label_column}'`);
    }
    return {
      path: path.resolve(base, String(p)),
      label: classless ? 0 : classIndex(classes, String(l), `${file}: row ${i + 1}`),
      attributes: Object.fromEntries(Object.entries(r).map(([k, v]) => [k, String(v)])),
    };
  });
  return { classes, items };
}

/**
 * The data's items and classes. `classless`: outputs read their labels from
 * other named groups or columns, so the source's own class is not needed
 * (a folder source always has it).
 */
export function listData(data: DataSpec, classless = false): Listing {
  const main =
    data.source === 'folder'
      ? folderItems(data.path, data.classes)
      : data.source === 'filename'
        ? filenameItems(data.path, data, classless)
        : manifestItems(data.path, data, classless);
  const listing: Listing = { ...main };
  if (data.validation_path) listing.validation = folderItems(data.validation_path, main.classes).items;
  if (data.test_path) listing.test = folderItems(data.test_path, main.classes).items;
  return listing;
}
