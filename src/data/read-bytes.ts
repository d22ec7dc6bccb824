// An image file's bytes. fs.readFile's callback form reads a small file in
// about one trip through libuv's thread pool; fs/promises' FileHandle path
// takes several (open, stat, reads, close): 2-3x slower over UTKFace's 23k
// small JPEGs, time a cold load or a face detection pass would wait on.
import { readFile } from 'node:fs';
import { promisify } from 'node:util';

export const readBytes: (file: string) => Promise<Buffer> = promisify(readFile);
