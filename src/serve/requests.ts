// What a scoring request carries, as image bytes: MLflow's JSON shapes with
// base64 images, one raw image as the body, or multipart form files. Anything
// else is an HttpError with the status and one line saying what would do.
import type { IncomingMessage } from 'node:http';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export const JSON_SHAPES =
  'give {"inputs": [{"b64": "<base64 image>"}, ...]} (or "instances"), {"dataframe_split": {"columns": ["image"], "data": [["<base64>"], ...]}} or {"dataframe_records": [{"image": "<base64>"}, ...]}';

/** The request body, refused (413) past `maxBytes`, counted as it arrives. */
export async function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? Number.NaN);
  const tooLarge = () =>
    new HttpError(413, `the body is larger than the ${maxBytes} bytes the server takes (--max-body)`);
  if (declared > maxBytes) throw tooLarge();
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw tooLarge();
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

const BASE64 = /^[A-Za-z0-9+/\r\n]*={0,2}$/;

function fromBase64(value: unknown, where: string): Buffer {
  const text = typeof value === 'object' && value !== null && 'b64' in value ? (value as { b64: unknown }).b64 : value;
  if (typeof text !== 'string' || text.length === 0 || !BASE64.test(text))
    throw new HttpError(400, `${where} is not a base64 image; ${JSON_SHAPES}`);
  return Buffer.from(text, 'base64');
}

/** The images of a JSON body in MLflow's scoring shapes. */
function jsonImages(body: Buffer): Buffer[] {
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new HttpError(400, `the body is not JSON (${(err as Error).message}); ${JSON_SHAPES}`);
  }
  const d = (typeof doc === 'object' && doc !== null ? doc : {}) as Record<string, unknown>;
  const list = (v: unknown, key: string) => {
    if (!Array.isArray(v) || v.length === 0)
      throw new HttpError(400, `"${key}" must be a non-empty list; ${JSON_SHAPES}`);
    return v as unknown[];
  };
  if ('inputs' in d || 'instances' in d) {
    const key = 'inputs' in d ? 'inputs' : 'instances';
    const v = d[key];
    return (Array.isArray(v) ? list(v, key) : [v]).map((x, i) => fromBase64(x, `${key}[${i}]`));
  }
  if ('dataframe_split' in d) {
    const split = (d.dataframe_split ?? {}) as { columns?: unknown; data?: unknown };
    const column = Array.isArray(split.columns) ? split.columns.indexOf('image') : 0;
    if (column < 0) throw new HttpError(400, `dataframe_split has no "image" column; ${JSON_SHAPES}`);
    return list(split.data, 'dataframe_split.data').map((row, i) =>
      fromBase64(Array.isArray(row) ? row[column] : undefined, `dataframe_split.data[${i}]`),
    );
  }
  if ('dataframe_records' in d) {
    return list(d.dataframe_records, 'dataframe_records').map((r, i) =>
      fromBase64((r as Record<string, unknown> | null)?.image, `dataframe_records[${i}].image`),
    );
  }
  throw new HttpError(400, `no "inputs", "instances", "dataframe_split" or "dataframe_records" key; ${JSON_SHAPES}`);
}

/** The images a request carries, by its content type. */
export async function requestImages(contentType: string | undefined, body: Buffer): Promise<Buffer[]> {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (body.length === 0) throw new HttpError(400, 'the body is empty: send an image, JSON or a multipart form');
  if (type === 'application/json') return jsonImages(body);
  if (type.startsWith('image/') || type === 'application/octet-stream') return [body];
  if (type === 'multipart/form-data') {
    let form: FormData;
    try {
      form = await new Request('http://localhost/', {
        method: 'POST',
        headers: { 'content-type': contentType as string },
        body,
      }).formData();
    } catch (err) {
      throw new HttpError(400, `the multipart form cannot be read (${(err as Error).message})`);
    }
    const files = [...form.values()].filter((v) => typeof v !== 'string') as unknown as Blob[];
    if (files.length === 0) throw new HttpError(400, 'the multipart form has no file: add the images as file fields');
    return Promise.all(files.map(async (f) => Buffer.from(await f.arrayBuffer())));
  }
  throw new HttpError(
    415,
    `content type '${type || 'none'}' is not taken: send application/json, image/* (one image) or multipart/form-data`,
  );
}
