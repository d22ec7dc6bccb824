// Whether this CPU's bfloat16 units make `training.precision: bf16` faster
// than float32 (oneDNN runs bfloat16 on AVX512_BF16 and AMX-BF16; elsewhere
// TensorFlow emulates it, slower than float32).
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

/** The units Linux lists in /proc/cpuinfo's flags that run bfloat16 matrix products. */
const BF16_FLAGS: Record<string, string> = { avx512_bf16: 'AVX512_BF16', amx_bf16: 'AMX-BF16' };

export interface Bf16Support {
  /** The CPU's bfloat16 units by name (empty: none). */
  units: string[];
  /** The CPU's model name, for messages. */
  cpu: string;
  /** Why bf16 would train slower than float32 on this CPU, completing "this CPU ..."; null: its units pay. */
  slower: string | null;
}

export function bf16Support(cpuinfo = readCpuinfo()): Bf16Support {
  const flags = new Set(/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1]?.trim().split(/\s+/) ?? []);
  const cpu = /^model name\s*:(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  const units = Object.entries(BF16_FLAGS).flatMap(([flag, name]) => (flags.has(flag) ? [name] : []));
  const intel = /^vendor_id\s*:\s*GenuineIntel/m.test(cpuinfo);
  // Intel's AVX512_BF16 dot product issues at half its float32 FMA rate, so without AMX tiles bf16 only
  // adds casts: 0.64x-0.71x float32 (Keras 0.67x-0.75x) on a Xeon whose AMX a VM hid (bench/RESULTS.md).
  const slower =
    units.length === 0
      ? 'has no bfloat16 units (AVX512_BF16 or AMX-BF16), where TensorFlow would emulate bf16'
      : intel && !units.includes('AMX-BF16')
        ? 'has AVX512_BF16 but no AMX-BF16, and Intel runs bfloat16 dot products there no faster than float32 ones'
        : null;
  return { units, cpu, slower };
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // Not Linux: no flags to read, so no units known.
    return '';
  }
}
