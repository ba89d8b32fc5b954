/**
 * GGUF v3 files, read and written in TypeScript for merge/export: typed metadata (each value keeps
 * its GGUF type, so a copied key round-trips exactly), tensor infos, and tensor bytes read on
 * demand from an open file (a multi-GB model never has to sit in memory at once).
 *
 * Layout (ggml's docs/gguf.md): "GGUF", u32 version, u64 tensor count, u64 metadata count,
 * key/values (string key, u32 type, value), tensor infos (name, u32 n_dims, u64 dims innermost
 * first, u32 ggml type, u64 offset into the data section), padding to general.alignment (32 by
 * default), then the tensor data, each tensor at an aligned offset.
 *
 *   const g = readGguf("models/base/SmolLM2-135M-Instruct.Q4_1.gguf"); g.tensorBytes(g.tensors[0]!)
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";

/** GGUF metadata value types. */
export const GgufValueType = {
  UINT8: 0,
  INT8: 1,
  UINT16: 2,
  INT16: 3,
  UINT32: 4,
  INT32: 5,
  FLOAT32: 6,
  BOOL: 7,
  STRING: 8,
  ARRAY: 9,
  UINT64: 10,
  INT64: 11,
  FLOAT64: 12,
} as const;
export type GgufValueType = (typeof GgufValueType)[keyof typeof GgufValueType];

export type GgufScalar = number | bigint | boolean | string;
/** A metadata value with its GGUF type (arrays carry their element type). */
export type GgufEntry =
  | { type: Exclude<GgufValueType, 9>; value: GgufScalar }
  | { type: 9; itemType: Exclude<GgufValueType, 9>; value: GgufScalar[] };

export interface GgufTensorInfo {
  name: string;
  /** ggml order: innermost (row length) first. */
  dims: number[];
  /** ggml type id (GGML_TYPE). */
  type: number;
  /** Offset from the start of the data section. */
  offset: number;
  /** Bytes of this tensor's data. */
  nbytes: number;
}

export interface GgufFile {
  path: string;
  version: number;
  alignment: number;
  metadata: Map<string, GgufEntry>;
  tensors: GgufTensorInfo[];
  /** Absolute offset of the data section. */
  dataOffset: number;
  /** The raw bytes of one tensor (read from disk now). */
  tensorBytes(t: GgufTensorInfo): Uint8Array;
}

/** ggml type ids and block geometry (elements per block, bytes per block). */
export const GGML = {
  F32: { id: 0, block: 1, bytes: 4 },
  F16: { id: 1, block: 1, bytes: 2 },
  Q4_0: { id: 2, block: 32, bytes: 18 },
  Q4_1: { id: 3, block: 32, bytes: 20 },
  Q5_0: { id: 6, block: 32, bytes: 22 },
  Q5_1: { id: 7, block: 32, bytes: 24 },
  Q8_0: { id: 8, block: 32, bytes: 34 },
  Q2_K: { id: 10, block: 256, bytes: 84 },
  Q3_K: { id: 11, block: 256, bytes: 110 },
  Q4_K: { id: 12, block: 256, bytes: 144 },
  Q5_K: { id: 13, block: 256, bytes: 176 },
  Q6_K: { id: 14, block: 256, bytes: 210 },
  BF16: { id: 30, block: 1, bytes: 2 },
} as const;
export type GgmlTypeName = keyof typeof GGML;

export function ggmlTypeName(id: number): GgmlTypeName {
  for (const [k, v] of Object.entries(GGML)) if (v.id === id) return k as GgmlTypeName;
  throw new RangeError(`ggml type ${id} is not supported (known: ${Object.keys(GGML).join(", ")})`);
}

/** Bytes of a tensor of `type` with `elements` values; rows must fill whole blocks. */
export function ggmlBytes(type: GgmlTypeName, dims: readonly number[]): number {
  const g = GGML[type];
  const row = dims[0] ?? 1;
  if (row % g.block !== 0)
    throw new RangeError(`${type} needs rows of a multiple of ${g.block} values, got ${row}`);
  const elements = dims.reduce((a, b) => a * b, 1);
  return (elements / g.block) * g.bytes;
}

export class GgufFormatError extends Error {
  constructor(
    readonly file: string,
    message: string,
  ) {
    super(`${file}: ${message}`);
    this.name = "GgufFormatError";
  }
}

/** Reads a GGUF header (metadata + tensor infos); tensor bytes stay on disk until asked for. */
export function readGguf(path: string): GgufFile {
  const fd = openSync(path, "r");
  const size = fstatSync(fd).size;
  // Headers with a full vocabulary run to a few MB; grow the window until the parse fits.
  let window = Math.min(size, 8 << 20);
  for (;;) {
    const buf = Buffer.alloc(window);
    readSync(fd, buf, 0, window, 0);
    try {
      const parsed = parseHeader(buf, path);
      const file: GgufFile = {
        ...parsed,
        path,
        tensorBytes(t) {
          const out = Buffer.alloc(t.nbytes);
          const at = parsed.dataOffset + t.offset;
          if (at + t.nbytes > size)
            throw new GgufFormatError(path, `tensor ${t.name} runs past the end of the file`);
          const h = openSync(path, "r");
          try {
            readSync(h, out, 0, t.nbytes, at);
          } finally {
            closeSync(h);
          }
          return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
        },
      };
      closeSync(fd);
      return file;
    } catch (e) {
      if (e instanceof RangeError && window < size) {
        window = Math.min(size, window * 4);
        continue;
      }
      closeSync(fd);
      if (e instanceof RangeError)
        throw new GgufFormatError(path, `truncated header (${e.message})`);
      throw e;
    }
  }
}

function parseHeader(buf: Buffer, path: string): Omit<GgufFile, "path" | "tensorBytes"> {
  let at = 0;
  const need = (n: number) => {
    if (at + n > buf.length) throw new RangeError(`need ${n} bytes at ${at}`);
  };
  const u32 = () => (need(4), (at += 4), buf.readUInt32LE(at - 4));
  const u64 = () => (need(8), (at += 8), buf.readBigUInt64LE(at - 8));
  const str = () => {
    const n = Number(u64());
    need(n);
    at += n;
    return buf.toString("utf8", at - n, at);
  };
  const scalar = (type: number): GgufScalar => {
    switch (type) {
      case 0:
        return (need(1), (at += 1), buf.readUInt8(at - 1));
      case 1:
        return (need(1), (at += 1), buf.readInt8(at - 1));
      case 2:
        return (need(2), (at += 2), buf.readUInt16LE(at - 2));
      case 3:
        return (need(2), (at += 2), buf.readInt16LE(at - 2));
      case 4:
        return u32();
      case 5:
        return (need(4), (at += 4), buf.readInt32LE(at - 4));
      case 6:
        return (need(4), (at += 4), buf.readFloatLE(at - 4));
      case 7:
        return (need(1), (at += 1), buf.readUInt8(at - 1) !== 0);
      case 8:
        return str();
      case 10:
        return u64();
      case 11:
        return (need(8), (at += 8), buf.readBigInt64LE(at - 8));
      case 12:
        return (need(8), (at += 8), buf.readDoubleLE(at - 8));
      default:
        throw new GgufFormatError(path, `unknown metadata value type ${type} at byte ${at}`);
    }
  };
  if (buf.length < 4 || buf.toString("latin1", 0, 4) !== "GGUF")
    throw new GgufFormatError(path, `not a GGUF file (expected the magic "GGUF")`);
  at = 4;
  const version = u32();
  if (version !== 2 && version !== 3)
    throw new GgufFormatError(path, `GGUF version ${version} is not supported (2, 3)`);
  const nTensors = Number(u64());
  const nKv = Number(u64());
  const metadata = new Map<string, GgufEntry>();
  for (let i = 0; i < nKv; i++) {
    const key = str();
    const type = u32();
    if (type === GgufValueType.ARRAY) {
      const itemType = u32();
      const n = Number(u64());
      const value: GgufScalar[] = new Array(n);
      for (let j = 0; j < n; j++) value[j] = scalar(itemType);
      metadata.set(key, { type: 9, itemType: itemType as Exclude<GgufValueType, 9>, value });
    } else {
      metadata.set(key, { type: type as Exclude<GgufValueType, 9>, value: scalar(type) });
    }
  }
  const alignEntry = metadata.get("general.alignment");
  const alignment = alignEntry ? Number(alignEntry.value) : 32;
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = str();
    const nDims = u32();
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(Number(u64()));
    const type = u32();
    const offset = Number(u64());
    let nbytes: number;
    try {
      nbytes = ggmlBytes(ggmlTypeName(type), dims);
    } catch (e) {
      throw new GgufFormatError(path, `tensor ${name}: ${(e as Error).message}`);
    }
    tensors.push({ name, dims, type, offset, nbytes });
  }
  const dataOffset = Math.ceil(at / alignment) * alignment;
  return { version, alignment, metadata, tensors, dataOffset };
}

/** Plain JS values of the metadata (what tokenizer/config readers expect). */
export function metadataValues(meta: Map<string, GgufEntry>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, e] of meta) out[k] = e.value;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** A tensor to write: its ggml type and dims, and a function that yields its bytes when written. */
export interface GgufTensorOut {
  name: string;
  dims: number[];
  type: GgmlTypeName;
  bytes: () => Uint8Array;
}

/** Convenience constructors for typed metadata entries. */
export const gv = {
  str: (value: string): GgufEntry => ({ type: GgufValueType.STRING, value }),
  u32: (value: number): GgufEntry => ({ type: GgufValueType.UINT32, value }),
  f32: (value: number): GgufEntry => ({ type: GgufValueType.FLOAT32, value }),
  bool: (value: boolean): GgufEntry => ({ type: GgufValueType.BOOL, value }),
  strs: (value: string[]): GgufEntry => ({ type: 9, itemType: GgufValueType.STRING, value }),
  i32s: (value: number[]): GgufEntry => ({ type: 9, itemType: GgufValueType.INT32, value }),
  f32s: (value: number[]): GgufEntry => ({ type: 9, itemType: GgufValueType.FLOAT32, value }),
};

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void {
    this.chunks.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.push(b);
  }
  scalar(type: number, v: GgufScalar): void {
    const b = Buffer.alloc([1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8][type] ?? 0);
    switch (type) {
      case 0:
        b.writeUInt8(Number(v));
        break;
      case 1:
        b.writeInt8(Number(v));
        break;
      case 2:
        b.writeUInt16LE(Number(v));
        break;
      case 3:
        b.writeInt16LE(Number(v));
        break;
      case 4:
        b.writeUInt32LE(Number(v));
        break;
      case 5:
        b.writeInt32LE(Number(v));
        break;
      case 6:
        b.writeFloatLE(Number(v));
        break;
      case 7:
        b.writeUInt8(v ? 1 : 0);
        break;
      case 8:
        return this.str(String(v));
      case 10:
        b.writeBigUInt64LE(BigInt(v));
        break;
      case 11:
        b.writeBigInt64LE(BigInt(v));
        break;
      case 12:
        b.writeDoubleLE(Number(v));
        break;
      default:
        throw new RangeError(`unknown GGUF value type ${type}`);
    }
    this.push(b);
  }
  concat(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Bytes the file will take (header estimate + tensors), for the disk-space check. */
export function ggufSizeEstimate(
  tensors: readonly GgufTensorOut[],
  metadataBytes = 8 << 20,
): number {
  return tensors.reduce((a, t) => a + ggmlBytes(t.type, t.dims) + 32, metadataBytes);
}

/**
 * Writes a GGUF v3 file at `path` (the caller owns atomicity: write into a temp dir, rename).
 * `onTensor` is called after each tensor is written (progress, cancellation by throwing).
 */
export async function writeGguf(
  path: string,
  metadata: Map<string, GgufEntry>,
  tensors: readonly GgufTensorOut[],
  onTensor?: (index: number, name: string) => void,
): Promise<number> {
  const alignment = 32;
  const meta = new Map(metadata);
  meta.set("general.alignment", gv.u32(alignment));
  const head = new ByteSink();
  head.push(Buffer.from("GGUF", "latin1"));
  head.u32(3);
  head.u64(tensors.length);
  head.u64(meta.size);
  for (const [key, e] of meta) {
    head.str(key);
    head.u32(e.type);
    if (e.type === 9) {
      head.u32(e.itemType);
      head.u64(e.value.length);
      for (const v of e.value) head.scalar(e.itemType, v);
    } else head.scalar(e.type, e.value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(GGML[t.type].id);
    head.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(ggmlBytes(t.type, t.dims) / alignment) * alignment;
  }
  const header = head.concat();
  const pad = (n: number) => Buffer.alloc((alignment - (n % alignment)) % alignment);
  const fd = openSync(path, "w");
  let written = 0;
  try {
    written += writeSync(fd, header);
    written += writeSync(fd, pad(header.length));
    for (const [i, t] of tensors.entries()) {
      const bytes = t.bytes();
      const expected = ggmlBytes(t.type, t.dims);
      if (bytes.length !== expected)
        throw new Error(
          `tensor ${t.name}: ${bytes.length} bytes for ${t.type} ${t.dims}, expected ${expected}`,
        );
      written += writeSync(fd, bytes);
      written += writeSync(fd, pad(bytes.length));
      onTensor?.(i, t.name);
      // Let a pending abort (Ctrl-C, signal) run between tensors.
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    closeSync(fd);
  }
  return written;
}
