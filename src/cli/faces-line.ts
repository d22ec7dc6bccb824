// One line about a face crop's detections, for the data and train commands.
import type { FaceStats } from '../data/cache.ts';

export function facesLine(f: FaceStats, what = 'images'): string {
  const rate = f.images ? ((f.found / f.images) * 100).toFixed(1) : '0.0';
  return `faces found in ${f.found} of ${f.images} ${what} (${rate}%); detected now ${f.detected}, boxes from cache ${f.reused}`;
}
