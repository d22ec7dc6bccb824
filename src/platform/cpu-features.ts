// Whether this CPU has bfloat16 units: what `training.precision: bf16` needs to
// be faster than float32 (oneDNN runs bfloat16 on AVX512_BF16 and AMX-BF16;
// elsewhere TensorFlow emulates it, slower than float32).
import { readFileSync } from 'node:fs';
import * as os from 'node:os';

/** The units Linux lists in /proc/cpuinfo's flags that run bfloat16 matrix products. */
const BF16_FLAGS: Record<string, string> = { avx512_bf16: 'AVX512_BF16', amx_bf16: 'AMX-BF16' };

export interface Bf16Support {
  /** The CPU's bfloat16 units by name (empty: none). */
  units: string[];
  /** The CPU's model name, for messages. */
  cpu: string;
}

export function bf16Support(cpuinfo = readCpuinfo()): Bf16Support {
  const flags = new Set(/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1]?.trim().split(/\s+/) ?? []);
  const cpu = /^model name\s*:(.*)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  return { units: Object.entries(BF16_FLAGS).flatMap(([flag, name]) => (flags.has(flag) ? [name] : [])), cpu };
}

function readCpuinfo(): string {
  try {
    return readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // Not Linux: no flags to read, so no units known.
    return '';
  }
}
