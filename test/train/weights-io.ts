/**
 * Test helpers that write model files from float32 weights, without torch or llama.cpp:
 * safetensors (F32) read/write, and a GGUF v3 writer with the ggml block layouts F32, F16, Q8_0,
 * Q4_0 and Q4_1. Quantizers follow ggml's reference (round-to-nearest) rules and also return the
 * values a loader must dequantize to, so a test can compare against exactly those values.
 *
 * GGUF v3 layout: "GGUF" magic, u32 version, u64 tensor count, u64 metadata count, metadata
 * key/values, tensor infos (name, n_dims, dims innermost-first, u32 type, u64 offset into the data
 * section), padding to general.alignment (32), then each tensor's bytes at an aligned offset.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

export type Tensor = { shape: number[]; data: Float32Array };

/** The transformers golden fixtures (scripts/make_parity_fixtures.py). */
export const PARITY_DIR = path.resolve("test/fixtures/parity");

export function fixtureInputs(name: string): { ids: Int32Array; shape: [number, number] } {
  const rows = (
    JSON.parse(readFileSync(path.join(PARITY_DIR, name, "inputs.json"), "utf8")) as {
      input_ids: number[][];
    }
  ).input_ids;
  return { ids: Int32Array.from(rows.flat()), shape: [rows.length, rows[0]!.length] };
}

export function referenceLogits(name: string, key = "logits"): Float32Array {
  const t = readSafetensors(path.join(PARITY_DIR, name, "logits.safetensors")).get(key);
  if (!t) throw new Error(`${name}: no ${key} in logits.safetensors`);
  return t.data;
}

export function readSafetensors(file: string): Map<string, Tensor> {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString("utf8")) as Record<
    string,
    { dtype: string; shape: number[]; data_offsets: [number, number] }
  >;
  const out = new Map<string, Tensor>();
  for (const [name, t] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    if (t.dtype !== "F32") throw new Error(`${file}: ${name} is ${t.dtype}, expected F32`);
    const bytes = buf.subarray(8 + n + t.data_offsets[0], 8 + n + t.data_offsets[1]);
    // Copy: the slice need not be 4-byte aligned inside the file buffer.
    out.set(name, { shape: t.shape, data: new Float32Array(new Uint8Array(bytes).buffer) });
  }
  return out;
}

export function writeSafetensors(file: string, tensors: Map<string, Tensor>): void {
  const header: Record<string, unknown> = {};
  let at = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [at, at + t.data.byteLength] };
    at += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // keeps the data section 8-byte aligned
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const parts = [head, Buffer.from(json, "utf8")];
  for (const t of tensors.values())
    parts.push(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  writeFileSync(file, Buffer.concat(parts));
}

// ---------------------------------------------------------------------------------------------
// float16

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of x, rounded to nearest even (subnormals included). */
export function toHalf(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000; // implicit bit, then shift into the subnormal range
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m++;
    return sign | m;
  }
  let m = mant >>> 13;
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && m & 1)) {
    m++;
    if (m === 0x400) {
      m = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | m;
}

export function fromHalf(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

// ---------------------------------------------------------------------------------------------
// ggml block quantization (32 weights per block along the innermost dimension)

export type GgmlType = "F32" | "F16" | "Q8_0" | "Q4_0" | "Q4_1";
export const GGML_TYPE_ID: Record<GgmlType, number> = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 8 };

export interface Encoded {
  bytes: Uint8Array;
  /** What a correct loader reads back. */
  dequantized: Float32Array;
}

/** Encodes row-major float32 data as `type`; quantized types need a multiple of 32 values. */
export function encode(type: GgmlType, x: Float32Array): Encoded {
  const n = x.length;
  const deq = new Float32Array(n);
  if (type === "F32") return { bytes: new Uint8Array(x.slice().buffer), dequantized: x.slice() };
  if (type === "F16") {
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) {
      out[i] = toHalf(x[i]!);
      deq[i] = fromHalf(out[i]!);
    }
    return { bytes: new Uint8Array(out.buffer), dequantized: deq };
  }
  if (n % 32 !== 0) throw new Error(`${type} needs a multiple of 32 values, got ${n}`);
  const blockBytes = { Q8_0: 34, Q4_0: 18, Q4_1: 20 }[type];
  const bytes = new Uint8Array((n / 32) * blockBytes);
  const view = new DataView(bytes.buffer);
  for (let b = 0; b < n / 32; b++) {
    const o = b * blockBytes;
    const v = x.subarray(b * 32, b * 32 + 32);
    const dq = deq.subarray(b * 32, b * 32 + 32);
    if (type === "Q8_0") {
      // d = max|x| / 127, q = round(x / d) in int8; x ≈ d·q.
      let amax = 0;
      for (const t of v) amax = Math.max(amax, Math.abs(t));
      const d = amax / 127;
      const dh = toHalf(d);
      view.setUint16(o, dh, true);
      const id = d ? 1 / d : 0;
      for (let j = 0; j < 32; j++) {
        const t = v[j]! * id;
        const q = Math.sign(t) * Math.round(Math.abs(t)); // C roundf: halves away from zero
        view.setInt8(o + 2 + j, q);
        dq[j] = fromHalf(dh) * q;
      }
    } else if (type === "Q4_0") {
      // d = (signed value of largest magnitude) / -8, q = clamp(trunc(x/d + 8.5), 0, 15); x ≈ d·(q-8).
      let amax = 0;
      let max = 0;
      for (const t of v) {
        if (Math.abs(t) > amax) {
          amax = Math.abs(t);
          max = t;
        }
      }
      const d = max / -8;
      const dh = toHalf(d);
      view.setUint16(o, dh, true);
      const id = d ? 1 / d : 0;
      const q = (t: number) => Math.min(15, Math.trunc(Math.fround(t * id) + 8.5));
      for (let j = 0; j < 16; j++) {
        const lo = q(v[j]!);
        const hi = q(v[j + 16]!);
        // Low nibble holds weight j, high nibble weight j + 16.
        bytes[o + 2 + j] = lo | (hi << 4);
        dq[j] = fromHalf(dh) * (lo - 8);
        dq[j + 16] = fromHalf(dh) * (hi - 8);
      }
    } else {
      // Q4_1: d = (max - min) / 15, m = min, q = clamp(trunc((x - m)/d + 0.5), 0, 15); x ≈ d·q + m.
      let min = Infinity;
      let max = -Infinity;
      for (const t of v) {
        min = Math.min(min, t);
        max = Math.max(max, t);
      }
      const d = (max - min) / 15;
      const dh = toHalf(d);
      const mh = toHalf(min);
      view.setUint16(o, dh, true);
      view.setUint16(o + 2, mh, true);
      const id = d ? 1 / d : 0;
      const q = (t: number) => Math.min(15, Math.trunc(Math.fround((t - min) * id) + 0.5));
      for (let j = 0; j < 16; j++) {
        const lo = q(v[j]!);
        const hi = q(v[j + 16]!);
        bytes[o + 4 + j] = lo | (hi << 4);
        dq[j] = fromHalf(dh) * lo + fromHalf(mh);
        dq[j + 16] = fromHalf(dh) * hi + fromHalf(mh);
      }
    }
  }
  return { bytes, dequantized: deq };
}

// ---------------------------------------------------------------------------------------------
// GGUF

export type GgufValue =
  | { type: "u32"; value: number }
  | { type: "f32"; value: number }
  | { type: "string"; value: string }
  | { type: "strings"; value: string[] };

export interface GgufTensor {
  name: string;
  /** Row-major shape (outermost first), as in safetensors. */
  shape: number[];
  /** ggml type id; normally GGML_TYPE_ID[...], any id for testing refusals. */
  typeId: number;
  bytes: Uint8Array;
}

class Writer {
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
  u64(v: number): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, "utf8");
    this.u64(b.length);
    this.push(b);
  }
  pad(alignment: number): void {
    this.push(Buffer.alloc((alignment - (this.length % alignment)) % alignment));
  }
  done(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

const ALIGNMENT = 32;

export function writeGguf(
  file: string,
  metadata: Record<string, GgufValue>,
  tensors: GgufTensor[],
): void {
  const w = new Writer();
  w.push(Buffer.from("GGUF", "ascii"));
  w.u32(3);
  w.u64(tensors.length);
  w.u64(Object.keys(metadata).length);
  for (const [key, v] of Object.entries(metadata)) {
    w.str(key);
    if (v.type === "u32") {
      w.u32(4);
      w.u32(v.value);
    } else if (v.type === "f32") {
      w.u32(6);
      w.f32(v.value);
    } else if (v.type === "string") {
      w.u32(8);
      w.str(v.value);
    } else {
      w.u32(9);
      w.u32(8);
      w.u64(v.value.length);
      for (const s of v.value) w.str(s);
    }
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    w.str(t.name);
    w.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) w.u64(d); // ggml lists the innermost dimension first
    w.u32(t.typeId);
    w.u64(offset);
    offsets.push(offset);
    offset += t.bytes.length;
    offset += (ALIGNMENT - (offset % ALIGNMENT)) % ALIGNMENT;
  }
  w.pad(ALIGNMENT);
  for (const t of tensors) {
    w.push(Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.length));
    w.pad(ALIGNMENT);
  }
  writeFileSync(file, w.done());
}

/**
 * llama.cpp's converter reorders each head's rows of attn_q / attn_k so that the two rotary halves
 * interleave (its RoPE rotates adjacent pairs): HF row h·hd + s·hd/2 + i goes to h·hd + 2i + s.
 */
export function permuteForGguf(w: Tensor, heads: number): Tensor {
  const [rows, cols] = w.shape as [number, number];
  const hd = rows / heads;
  const out = new Float32Array(w.data.length);
  for (let h = 0; h < heads; h++)
    for (let s = 0; s < 2; s++)
      for (let i = 0; i < hd / 2; i++) {
        const src = h * hd + s * (hd / 2) + i;
        const dst = h * hd + 2 * i + s;
        out.set(w.data.subarray(src * cols, (src + 1) * cols), dst * cols);
      }
  return { shape: w.shape, data: out };
}
