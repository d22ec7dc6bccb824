// Numbers grouped into bands by ascending lower bounds: report slices and a number output's metrics per band.

/** The index of the band `x` falls in: the last bound it reaches, -1 below the first. */
export function bandIndex(x: number, bands: number[]): number {
  return bands.findLastIndex((b) => x >= b);
}

/** `value` as its band ("13-19", "60+") when `bands` are given and it is a number. */
export function bandOf(value: string, bands: number[] | undefined): string {
  const x = Number(value);
  if (!bands || value.trim() === '' || !Number.isFinite(x)) return value;
  const i = bandIndex(x, bands);
  if (i < 0) return `<${bands[0]}`;
  const next = bands[i + 1];
  if (next === undefined) return `${bands[i]}+`;
  // Integer bounds read as the last value in the band (13-19); others as a half-open range.
  const whole = bands.every(Number.isInteger);
  return whole ? `${bands[i]}-${next - 1}` : `${bands[i]}-<${next}`;
}
