// One line about a face crop's detections, for the data and train commands.
import type { FaceStats } from '../data/cache.ts';

export function facesLine(f: FaceStats, what = 'images'): string {
  const rate = f.images ? ((f.found / f.images) * 100).toFixed(1) : '0.0';
  const line = `faces found in ${f.found} of ${f.images} ${what} (${rate}%); detected now ${f.detected}, boxes from cache ${f.reused}`;
  // Past a few percent, black borders are something the model learns: say so where it is configured.
  if (f.outside <= 0.02) return line;
  const share = `${(f.outside * 100).toFixed(1)}% of the average crop lies outside its image`;
  return f.fill === 'black'
    ? `${line}; ${share} (black): a smaller crop.margin keeps it in, crop.fill: mirror fills it from the image`
    : `${line}; ${share} (filled: ${f.fill})`;
}
