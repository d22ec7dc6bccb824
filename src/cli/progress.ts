// Progress bars on a terminal (stderr): one bar at a time, created on the first
// report of a phase and closed when it completes.
import { SingleBar } from 'cli-progress';

export type Progress = (done: number, total: number, loss?: number) => void;

/** `bar(label)` gives a progress callback for one phase; all are no-ops when `enabled` is false. */
export function progressBars(enabled: boolean): (label: string) => Progress {
  let bar: SingleBar | null = null;
  return (label) => (done, total, loss) => {
    if (!enabled) return;
    if (!bar) {
      bar = new SingleBar({
        format: `${label} {bar} {value}/{total}  {percentage}%  eta {eta}s  {loss}`,
        hideCursor: true,
        clearOnComplete: true,
      });
      bar.start(total, done, { loss: '' });
    }
    bar.update(done, { loss: loss === undefined ? '' : `loss ${loss.toFixed(4)}` });
    if (done >= total) {
      bar.stop();
      bar = null;
    }
  };
}
