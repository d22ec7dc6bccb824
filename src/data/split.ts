// Stratified, seeded train / validation / test split.
import { rng, shuffle } from '../platform/random.ts';
import { DataError } from '../spec/errors.ts';
import type { Item } from './sources.ts';

export interface Split {
  train: Item[];
  validation: Item[];
  test: Item[];
}

/**
 * Per class: shuffle with the seed, then take round(n * fraction) for validation
 * and for test (at least one each when the fraction is above zero), the rest for
 * training. A class too small to give every split one image is an error.
 */
export function stratifiedSplit(
  items: Item[],
  classes: string[],
  fractions: { validation: number; test: number },
  seed: number,
  /** A stratum too small to split goes to training whole instead of failing (outputs' strata). */
  lenient = false,
  /** Which of `classes` (strata) an item is in: its label unless said otherwise. */
  stratumOf: (item: Item) => number = (item) => item.label,
): Split {
  const out: Split = { train: [], validation: [], test: [] };
  const random = rng(seed);
  for (const [label, cls] of classes.entries()) {
    const members = shuffle(
      items.filter((it) => stratumOf(it) === label),
      random,
    );
    const take = (f: number) => (f > 0 ? Math.max(1, Math.round(members.length * f)) : 0);
    const nVal = take(fractions.validation);
    const nTest = take(fractions.test);
    if (members.length - nVal - nTest < 1) {
      if (lenient) {
        out.train.push(...members);
        continue;
      }
      throw new DataError(
        `class '${cls}' has ${members.length} image(s), too few to split (validation ${fractions.validation}, test ${fractions.test}); it needs at least ${nVal + nTest + 1}`,
      );
    }
    out.validation.push(...members.slice(0, nVal));
    out.test.push(...members.slice(nVal, nVal + nTest));
    out.train.push(...members.slice(nVal + nTest));
  }
  return out;
}
