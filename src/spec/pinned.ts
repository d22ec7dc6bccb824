/** A pinned npm package and the weight files inside it (path -> sha256): weights a run can name exactly. */
export interface PinnedFiles {
  package: string;
  version: string;
  files: Record<string, string>;
}
