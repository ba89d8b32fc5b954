/**
 * safetensors files for merge/export: read a header and tensors (F32, F16, BF16 as float32, or
 * their raw bytes), and write one file or a sharded set with model.safetensors.index.json.
 *
 * Format: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets:
 * [begin, end]}, "__metadata__": {string: string}}, then the data section (offsets relative to it).
 */
import { closeSync, fstatSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import { fromBf16, fromHalf, toBf16, toHalf } from "./quants.js";

export type SafetensorsDtype = "F32" | "F16" | "BF16";

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  path: string;
  metadata: Record<string, string>;
  tensors: Map<string, SafetensorsEntry>;
  /** Raw bytes of one tensor. */
  bytes(name: string): Uint8Array;
  /** One tensor as float32 (F32, F16, BF16). */
  float32(name: string): Float32Array;
}

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "SafetensorsError";
  }
}

export function readSafetensorsFile(path: string): SafetensorsFile {
  const fd = openSync(path, "r");
  let header: Record<string, unknown>;
  let dataStart: number;
  let size: number;
  try {
    size = fstatSync(fd).size;
    const lenBuf = Buffer.alloc(8);
    if (size < 8 || readSync(fd, lenBuf, 0, 8, 0) !== 8)
      throw new SafetensorsError(path, "shorter than the 8-byte header length");
    const n = Number(lenBuf.readBigUInt64LE(0));
    if (n > size - 8) throw new SafetensorsError(path, `header length ${n} exceeds the file`);
    const hb = Buffer.alloc(n);
    readSync(fd, hb, 0, n, 8);
    try {
      header = JSON.parse(hb.toString("utf8")) as Record<string, unknown>;
    } catch (e) {
      throw new SafetensorsError(path, `header is not JSON (${(e as Error).message})`);
    }
    dataStart = 8 + n;
  } finally {
    closeSync(fd);
  }
  const tensors = new Map<string, SafetensorsEntry>();
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const t = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (!t.dtype || !Array.isArray(t.shape) || !Array.isArray(t.data_offsets))
      throw new SafetensorsError(path, `tensor "${name}" lacks dtype, shape or data_offsets`);
    const [b, e] = t.data_offsets;
    if (dataStart + e > size)
      throw new SafetensorsError(path, `tensor "${name}" runs past the end of the file`);
    tensors.set(name, { name, dtype: t.dtype, shape: t.shape, begin: b, end: e });
  }
  const bytes = (name: string): Uint8Array => {
    const t = tensors.get(name);
    if (!t) throw new SafetensorsError(path, `no tensor "${name}"`);
    const out = Buffer.alloc(t.end - t.begin);
    const h = openSync(path, "r");
    try {
      readSync(h, out, 0, out.length, dataStart + t.begin);
    } finally {
      closeSync(h);
    }
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  };
  return {
    path,
    metadata: (header.__metadata__ as Record<string, string>) ?? {},
    tensors,
    bytes,
    float32(name) {
      const t = tensors.get(name)!;
      const b = bytes(name);
      return toFloat32(t.dtype, b, path, name);
    },
  };
}

function toFloat32(dtype: string, b: Uint8Array, path: string, name: string): Float32Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (dtype === "F32") return new Float32Array(new Uint8Array(b).buffer);
  const out = new Float32Array(b.length / 2);
  if (dtype === "F16")
    for (let i = 0; i < out.length; i++) out[i] = fromHalf(v.getUint16(2 * i, true));
  else if (dtype === "BF16")
    for (let i = 0; i < out.length; i++) out[i] = fromBf16(v.getUint16(2 * i, true));
  else throw new SafetensorsError(path, `tensor "${name}" is ${dtype}; expected F32, F16 or BF16`);
  return out;
}

/** float32 values encoded as a safetensors dtype. */
export function encodeFloats(dtype: SafetensorsDtype, x: Float32Array): Uint8Array {
  if (dtype === "F32")
    return new Uint8Array(x.buffer.slice(x.byteOffset, x.byteOffset + x.byteLength));
  const out = new Uint16Array(x.length);
  const conv = dtype === "F16" ? toHalf : toBf16;
  for (let i = 0; i < x.length; i++) out[i] = conv(x[i]!);
  return new Uint8Array(out.buffer);
}

export interface SafetensorsTensorOut {
  name: string;
  dtype: SafetensorsDtype;
  shape: number[];
  nbytes: number;
  bytes: () => Uint8Array;
}

/** Writes one safetensors file; tensors' bytes are produced (and dropped) one at a time. */
export async function writeSafetensorsFile(
  path: string,
  tensors: readonly SafetensorsTensorOut[],
  metadata: Record<string, string> = { format: "pt" },
  onTensor?: (name: string) => void,
): Promise<number> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let at = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.nbytes] };
    at += t.nbytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - ((json.length + 8) % 8)) % 8);
  const hb = Buffer.from(json, "utf8");
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(hb.length));
  const fd = openSync(path, "w");
  let written = 0;
  try {
    written += writeSync(fd, len);
    written += writeSync(fd, hb);
    for (const t of tensors) {
      const b = t.bytes();
      if (b.length !== t.nbytes)
        throw new Error(`${path}: tensor ${t.name} has ${b.length} bytes, expected ${t.nbytes}`);
      written += writeSync(fd, b);
      onTensor?.(t.name);
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** Hugging Face's shard limit: one file up to this size, else shards and an index. */
export const SHARD_BYTES = 5 * 1000 ** 3;

/**
 * Writes model.safetensors, or model-0000i-of-0000n.safetensors shards of at most `shardBytes`
 * plus model.safetensors.index.json. Returns the file names written (relative to `dir`).
 */
export async function writeShardedSafetensors(
  dir: string,
  tensors: readonly SafetensorsTensorOut[],
  opts: { shardBytes?: number; onTensor?: (name: string) => void } = {},
): Promise<string[]> {
  const limit = opts.shardBytes ?? SHARD_BYTES;
  const shards: SafetensorsTensorOut[][] = [[]];
  let size = 0;
  for (const t of tensors) {
    if (size > 0 && size + t.nbytes > limit) {
      shards.push([]);
      size = 0;
    }
    shards.at(-1)!.push(t);
    size += t.nbytes;
  }
  if (shards.length === 1) {
    await writeSafetensorsFile(
      `${dir}/model.safetensors`,
      tensors,
      { format: "pt" },
      opts.onTensor,
    );
    return ["model.safetensors"];
  }
  const names: string[] = [];
  const weightMap: Record<string, string> = {};
  const pad = (i: number) => String(i).padStart(5, "0");
  for (const [i, s] of shards.entries()) {
    const name = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    await writeSafetensorsFile(`${dir}/${name}`, s, { format: "pt" }, opts.onTensor);
    for (const t of s) weightMap[t.name] = name;
    names.push(name);
  }
  const total = tensors.reduce((a, t) => a + t.nbytes, 0);
  const index = { metadata: { total_size: total }, weight_map: weightMap };
  writeFileSync(`${dir}/model.safetensors.index.json`, JSON.stringify(index, null, 2) + "\n");
  return [...names, "model.safetensors.index.json"];
}
