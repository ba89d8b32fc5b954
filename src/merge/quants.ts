/**
 * ggml block formats in TypeScript: dequantize F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1 and the
 * K-quants Q2_K/Q3_K/Q4_K/Q5_K/Q6_K to float32 and quantize float32 to them, with the block layouts of ggml's quantization reference
 * (ggml-common.h / ggml-quants.c, read for the layouts and rounding rules only).
 *
 *   const bytes = quantize("Q4_K", row); const back = dequantize("Q4_K", bytes, row.length);
 *
 * Rows are quantized independently along the innermost dimension; 32-value blocks for the legacy
 * types, 256-value super-blocks for the K-quants. Quantizers are deterministic round-to-nearest
 * with a small least-squares search for the K-quant scales and minimums (as llama.cpp does without
 * an importance matrix), so a re-export of the same weights gives the same bytes.
 */
import { GGML, type GgmlTypeName } from "./gguf.js";

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits of x, round to nearest even, subnormals kept. */
export function toHalf(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
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

const HALF_TABLE = (() => {
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] =
      e === 0
        ? sign * m * 2 ** -24
        : e === 0x1f
          ? m
            ? NaN
            : sign * Infinity
          : sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  return t;
})();

export function fromHalf(h: number): number {
  return HALF_TABLE[h & 0xffff]!;
}

/** bfloat16 bits of x (round to nearest even). */
export function toBf16(x: number): number {
  f32[0] = x;
  const b = u32[0]!;
  if ((b & 0x7fffffff) > 0x7f800000) return (b >>> 16) | 0x40;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

export function fromBf16(h: number): number {
  u32[0] = (h & 0xffff) << 16;
  return f32[0]!;
}

/** Types this module reads. */
export const DEQUANTIZABLE: readonly GgmlTypeName[] = [
  "F32",
  "F16",
  "BF16",
  "Q8_0",
  "Q4_0",
  "Q4_1",
  "Q5_0",
  "Q5_1",
  "Q2_K",
  "Q3_K",
  "Q4_K",
  "Q5_K",
  "Q6_K",
];
/** Types this module writes. */
export const QUANTIZABLE: readonly GgmlTypeName[] = DEQUANTIZABLE;

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Float32 values of `n` elements stored as `type`. */
export function dequantize(type: GgmlTypeName, bytes: Uint8Array, n: number): Float32Array {
  const out = new Float32Array(n);
  const v = view(bytes);
  const g = GGML[type];
  if (bytes.length < (n / g.block) * g.bytes)
    throw new RangeError(`${type}: ${bytes.length} bytes for ${n} values`);
  switch (type) {
    case "F32":
      for (let i = 0; i < n; i++) out[i] = v.getFloat32(4 * i, true);
      return out;
    case "F16":
      for (let i = 0; i < n; i++) out[i] = HALF_TABLE[v.getUint16(2 * i, true)]!;
      return out;
    case "BF16":
      for (let i = 0; i < n; i++) out[i] = fromBf16(v.getUint16(2 * i, true));
      return out;
    case "Q8_0":
      for (let b = 0, o = 0; b < n / 32; b++, o += 34) {
        const d = fromHalf(v.getUint16(o, true));
        for (let j = 0; j < 32; j++) out[b * 32 + j] = d * v.getInt8(o + 2 + j);
      }
      return out;
    case "Q4_0":
      for (let b = 0, o = 0; b < n / 32; b++, o += 18) {
        const d = fromHalf(v.getUint16(o, true));
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 2 + j]!;
          out[b * 32 + j] = d * ((q & 15) - 8);
          out[b * 32 + j + 16] = d * ((q >> 4) - 8);
        }
      }
      return out;
    case "Q4_1":
      for (let b = 0, o = 0; b < n / 32; b++, o += 20) {
        const d = fromHalf(v.getUint16(o, true));
        const m = fromHalf(v.getUint16(o + 2, true));
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 4 + j]!;
          out[b * 32 + j] = d * (q & 15) + m;
          out[b * 32 + j + 16] = d * (q >> 4) + m;
        }
      }
      return out;
    case "Q5_0":
      for (let b = 0, o = 0; b < n / 32; b++, o += 22) {
        const d = fromHalf(v.getUint16(o, true));
        const qh = v.getUint32(o + 2, true);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 6 + j]!;
          out[b * 32 + j] = d * (((q & 15) | (((qh >>> j) & 1) << 4)) - 16);
          out[b * 32 + j + 16] = d * (((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16);
        }
      }
      return out;
    case "Q5_1":
      for (let b = 0, o = 0; b < n / 32; b++, o += 24) {
        const d = fromHalf(v.getUint16(o, true));
        const m = fromHalf(v.getUint16(o + 2, true));
        const qh = v.getUint32(o + 4, true);
        for (let j = 0; j < 16; j++) {
          const q = bytes[o + 8 + j]!;
          out[b * 32 + j] = d * ((q & 15) | (((qh >>> j) & 1) << 4)) + m;
          out[b * 32 + j + 16] = d * ((q >> 4) | (((qh >>> (j + 16)) & 1) << 4)) + m;
        }
      }
      return out;
    case "Q4_K":
    case "Q5_K": {
      // d, dmin, 12 bytes of 6-bit scales/mins, [qh[32] (Q5_K),] qs[128]: sub-block g (32 values)
      // takes nibble g%2 of qs[32·(g/2) + l] and, for Q5_K, bit g of qh[l] as its fifth bit.
      const five = type === "Q5_K";
      const qsAt = five ? 48 : 16;
      for (let b = 0, o = 0; b < n / 256; b++, o += g.bytes) {
        const d = fromHalf(v.getUint16(o, true));
        const dmin = fromHalf(v.getUint16(o + 2, true));
        const sc = bytes.subarray(o + 4, o + 16);
        for (let sub = 0; sub < 8; sub++) {
          const [s, m] = scaleMinK4(sub, sc);
          const shift = 4 * (sub % 2);
          for (let l = 0; l < 32; l++) {
            let q = (bytes[o + qsAt + 32 * (sub >> 1) + l]! >> shift) & 15;
            if (five) q |= ((bytes[o + 16 + l]! >> sub) & 1) << 4;
            out[b * 256 + 32 * sub + l] = d * s * q - dmin * m;
          }
        }
      }
      return out;
    }
    case "Q2_K":
      for (let b = 0, o = 0; b < n / 256; b++, o += 84) {
        const d = fromHalf(v.getUint16(o + 80, true));
        const dmin = fromHalf(v.getUint16(o + 82, true));
        for (let e = 0; e < 256; e++) {
          const sc = bytes[o + (e >> 4)]!;
          out[b * 256 + e] = d * (sc & 15) * low2(bytes, o + 16, e) - dmin * (sc >> 4);
        }
      }
      return out;
    case "Q3_K":
      for (let b = 0, o = 0; b < n / 256; b++, o += 110) {
        const d = fromHalf(v.getUint16(o + 108, true));
        const scales = q3kScales(bytes.subarray(o + 96, o + 108));
        for (let e = 0; e < 256; e++) {
          const high = (bytes[o + (e & 31)]! >> (e >> 5)) & 1;
          out[b * 256 + e] = d * scales[e >> 4]! * (low2(bytes, o + 32, e) - (high ? 0 : 4));
        }
      }
      return out;
    case "Q6_K":
      for (let b = 0, o = 0; b < n / 256; b++, o += 210) {
        const d = fromHalf(v.getUint16(o + 208, true));
        for (let half = 0; half < 2; half++) {
          const ql = o + 64 * half;
          const qh = o + 128 + 32 * half;
          const base = b * 256 + 128 * half;
          for (let l = 0; l < 32; l++) {
            const h = bytes[qh + l]!;
            const lo = bytes[ql + l]!;
            const hi = bytes[ql + l + 32]!;
            const q = [
              ((lo & 15) | ((h & 3) << 4)) - 32,
              ((hi & 15) | (((h >> 2) & 3) << 4)) - 32,
              ((lo >> 4) | (((h >> 4) & 3) << 4)) - 32,
              ((hi >> 4) | (((h >> 6) & 3) << 4)) - 32,
            ];
            for (let k = 0; k < 4; k++) {
              const idx = base + l + 32 * k;
              const s = v.getInt8(o + 192 + ((idx - b * 256) >> 4));
              out[idx] = d * s * q[k]!;
            }
          }
        }
      }
      return out;
    default:
      throw new RangeError(`cannot dequantize ${type}`);
  }
}

/** Q2_K / Q3_K: the 2 low bits of value e (0..255): shift 2·(j%4) of qs[32·(j/4) + e%32], j = e/32. */
function low2(bytes: Uint8Array, qs: number, e: number): number {
  const j = e >> 5;
  return (bytes[qs + 32 * (j >> 2) + (e & 31)]! >> (2 * (j & 3))) & 3;
}

/** Q3_K: the 16 signed 6-bit sub-block scales (offset 32) packed in 12 bytes. */
function q3kScales(s: Uint8Array): Int8Array {
  const out = new Int8Array(16);
  for (let i = 0; i < 16; i++) {
    const low = (i < 8 ? s[i]! : s[i - 8]! >> 4) & 15;
    const high = (s[8 + (i & 3)]! >> (2 * (i >> 2))) & 3;
    out[i] = (low | (high << 4)) - 32;
  }
  return out;
}

/** The 6-bit scale and min of sub-block j of a Q4_K / Q5_K super-block (12 packed bytes). */
function scaleMinK4(j: number, q: Uint8Array): [number, number] {
  if (j < 4) return [q[j]! & 63, q[j + 4]! & 63];
  return [(q[j + 4]! & 15) | ((q[j - 4]! >> 6) << 4), (q[j + 4]! >> 4) | ((q[j]! >> 6) << 4)];
}

/** C roundf: halves away from zero. */
const roundf = (x: number) => (x < 0 ? -Math.round(-x) : Math.round(x));

/** Bytes of `x` (a whole number of rows) stored as `type`. */
export function quantize(type: GgmlTypeName, x: Float32Array): Uint8Array {
  const n = x.length;
  const g = GGML[type];
  if (n % g.block !== 0)
    throw new RangeError(`${type} needs a multiple of ${g.block} values, got ${n}`);
  const bytes = new Uint8Array((n / g.block) * g.bytes);
  const v = view(bytes);
  switch (type) {
    case "F32":
      for (let i = 0; i < n; i++) v.setFloat32(4 * i, x[i]!, true);
      return bytes;
    case "F16":
      for (let i = 0; i < n; i++) v.setUint16(2 * i, toHalf(x[i]!), true);
      return bytes;
    case "BF16":
      for (let i = 0; i < n; i++) v.setUint16(2 * i, toBf16(x[i]!), true);
      return bytes;
    case "Q8_0":
      for (let b = 0, o = 0; b < n / 32; b++, o += 34) {
        let amax = 0;
        for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]!));
        const d = amax / 127;
        const id = d ? 1 / d : 0;
        v.setUint16(o, toHalf(d), true);
        for (let j = 0; j < 32; j++) v.setInt8(o + 2 + j, roundf(Math.fround(x[b * 32 + j]! * id)));
      }
      return bytes;
    case "Q4_0":
    case "Q5_0": {
      const levels = type === "Q4_0" ? 8 : 16;
      const bb = g.bytes;
      for (let b = 0, o = 0; b < n / 32; b++, o += bb) {
        let amax = 0;
        let max = 0;
        for (let j = 0; j < 32; j++) {
          const t = x[b * 32 + j]!;
          if (Math.abs(t) > amax) [amax, max] = [Math.abs(t), t];
        }
        const d = max / -levels;
        const id = d ? 1 / d : 0;
        v.setUint16(o, toHalf(d), true);
        const q = (t: number) =>
          Math.min(2 * levels - 1, Math.trunc(Math.fround(t * id) + levels + 0.5));
        const qs = type === "Q4_0" ? o + 2 : o + 6;
        let qh = 0;
        for (let j = 0; j < 16; j++) {
          const a = q(x[b * 32 + j]!);
          const c = q(x[b * 32 + j + 16]!);
          bytes[qs + j] = (a & 15) | ((c & 15) << 4);
          qh |= ((a >> 4) & 1) << j;
          qh |= ((c >> 4) & 1) << (j + 16);
        }
        if (type === "Q5_0") v.setUint32(o + 2, qh >>> 0, true);
      }
      return bytes;
    }
    case "Q4_1":
      for (let b = 0, o = 0; b < n / 32; b++, o += 20) {
        let min = Infinity;
        let max = -Infinity;
        for (let j = 0; j < 32; j++) {
          min = Math.min(min, x[b * 32 + j]!);
          max = Math.max(max, x[b * 32 + j]!);
        }
        const d = (max - min) / 15;
        const id = d ? 1 / d : 0;
        v.setUint16(o, toHalf(d), true);
        v.setUint16(o + 2, toHalf(min), true);
        const q = (t: number) => Math.min(15, Math.trunc(Math.fround((t - min) * id) + 0.5));
        for (let j = 0; j < 16; j++)
          bytes[o + 4 + j] = q(x[b * 32 + j]!) | (q(x[b * 32 + j + 16]!) << 4);
      }
      return bytes;
    case "Q5_1":
      for (let b = 0, o = 0; b < n / 32; b++, o += 24) {
        let min = Infinity;
        let max = -Infinity;
        for (let j = 0; j < 32; j++) {
          min = Math.min(min, x[b * 32 + j]!);
          max = Math.max(max, x[b * 32 + j]!);
        }
        const d = (max - min) / 31;
        const id = d ? 1 / d : 0;
        v.setUint16(o, toHalf(d), true);
        v.setUint16(o + 2, toHalf(min), true);
        const q = (t: number) => Math.min(31, Math.trunc(Math.fround((t - min) * id) + 0.5));
        let qh = 0;
        for (let j = 0; j < 16; j++) {
          const a = q(x[b * 32 + j]!);
          const c = q(x[b * 32 + j + 16]!);
          bytes[o + 8 + j] = (a & 15) | ((c & 15) << 4);
          qh |= ((a >> 4) << j) | ((c >> 4) << (j + 16));
        }
        v.setUint32(o + 4, qh >>> 0, true);
      }
      return bytes;
    case "Q4_K":
    case "Q5_K":
      for (let b = 0; b < n / 256; b++)
        quantizeQ45KBlock(x.subarray(b * 256, b * 256 + 256), bytes, b * g.bytes, type === "Q5_K");
      return bytes;
    case "Q2_K":
      for (let b = 0; b < n / 256; b++)
        quantizeQ2KBlock(x.subarray(b * 256, b * 256 + 256), bytes, b * 84);
      return bytes;
    case "Q3_K":
      for (let b = 0; b < n / 256; b++)
        quantizeQ3KBlock(x.subarray(b * 256, b * 256 + 256), bytes, b * 110);
      return bytes;
    case "Q6_K":
      for (let b = 0; b < n / 256; b++)
        quantizeQ6KBlock(x.subarray(b * 256, b * 256 + 256), bytes, b * 210);
      return bytes;
    default:
      throw new RangeError(`cannot quantize to ${type}`);
  }
}

/**
 * Scale and (non-positive) offset for the values of x on levels 0..nmax, x ≈ scale·l + min: a
 * handful of candidate scales around (max-min)/nmax, each refined by weighted least squares, the
 * best kept. Weights favour large magnitudes (as llama.cpp's av_x + |x|), where rounding costs most.
 */
function fitScaleMin(x: Float32Array, w: Float32Array, nmax: number): [number, number] {
  const n = x.length;
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const t = x[i]!;
    if (t < min) min = t;
    if (t > max) max = t;
  }
  if (min > 0) min = 0;
  if (max === min) return [0, min];
  let bestScale = (max - min) / nmax;
  let bestMin = min;
  let bestErr = Infinity;
  // Levels are non-negative, so rounding is floor(v + 0.5) (Math.round's rule), clamped.
  const level = (v: number) => {
    const q = Math.floor(v + 0.5);
    return q < 0 ? 0 : q > nmax ? nmax : q;
  };
  for (let step = -4; step <= 12; step++) {
    const iscale = (nmax + 0.1 * step) / (max - min);
    let sw = 0;
    let sl = 0;
    let sll = 0;
    let sx = 0;
    let slx = 0;
    for (let i = 0; i < n; i++) {
      const t = x[i]!;
      const q = level(iscale * (t - min));
      const wi = w[i]!;
      sw += wi;
      sl += wi * q;
      sll += wi * q * q;
      sx += wi * t;
      slx += wi * q * t;
    }
    const det = sw * sll - sl * sl;
    let scale = (max - min) / nmax;
    let off = min;
    if (det > 0) {
      scale = (sw * slx - sx * sl) / det;
      off = (sll * sx - sl * slx) / det;
      if (off > 0) {
        off = 0;
        scale = sll > 0 ? slx / sll : scale;
      }
    }
    if (!(scale > 0)) continue;
    const inv = 1 / scale;
    let err = 0;
    for (let i = 0; i < n; i++) {
      const t = x[i]!;
      const e = scale * level((t - off) * inv) + off - t;
      err += w[i]! * e * e;
    }
    if (err < bestErr) {
      bestErr = err;
      bestScale = scale;
      bestMin = off;
    }
  }
  return [bestScale, bestMin];
}

/** Q4_K / Q5_K: 8 sub-blocks of 32 on levels 0..15 (0..31), 6-bit scales and mins under d, dmin. */
function quantizeQ45KBlock(x: Float32Array, bytes: Uint8Array, o: number, five: boolean): void {
  const v = view(bytes);
  const nmax = five ? 31 : 15;
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  const w = new Float32Array(32);
  for (let j = 0; j < 8; j++) {
    const sub = x.subarray(32 * j, 32 * j + 32);
    let s2 = 0;
    for (const t of sub) s2 += t * t;
    const av = Math.sqrt(s2 / 32);
    for (let i = 0; i < 32; i++) w[i] = av + Math.abs(sub[i]!);
    const [s, m] = fitScaleMin(sub, w, nmax);
    scales[j] = s;
    mins[j] = -m;
  }
  // Scales and minimums to 6 bits under the super-block's d and dmin.
  const maxScale = Math.max(...scales);
  const maxMin = Math.max(...mins);
  const iS = maxScale > 0 ? 63 / maxScale : 0;
  const iM = maxMin > 0 ? 63 / maxMin : 0;
  const ls = scales.map((s) => Math.min(63, Math.round(iS * s)));
  const lm = mins.map((m) => Math.min(63, Math.round(iM * m)));
  const dh = toHalf(maxScale / 63);
  const dminh = toHalf(maxMin / 63);
  v.setUint16(o, dh, true);
  v.setUint16(o + 2, dminh, true);
  for (let j = 0; j < 4; j++) {
    bytes[o + 4 + j] = ls[j]! | ((ls[j + 4]! >> 4) << 6);
    bytes[o + 8 + j] = lm[j]! | ((lm[j + 4]! >> 4) << 6);
    bytes[o + 12 + j] = (ls[j + 4]! & 15) | ((lm[j + 4]! & 15) << 4);
  }
  const d = fromHalf(dh);
  const dmin = fromHalf(dminh);
  const L = new Uint8Array(256);
  for (let j = 0; j < 8; j++) {
    const s = d * ls[j]!;
    const m = dmin * lm[j]!;
    for (let i = 0; i < 32; i++) {
      const t = x[32 * j + i]!;
      L[32 * j + i] = s ? Math.max(0, Math.min(nmax, Math.round((t + m) / s))) : 0;
    }
  }
  // Q5_K: qh[32] after the scales, bit j of qh[l] the fifth bit of L[32j + l]; qs follow.
  const qs = o + (five ? 48 : 16);
  if (five) bytes.fill(0, o + 16, o + 48);
  for (let j = 0; j < 4; j++)
    for (let l = 0; l < 32; l++) {
      const a = L[64 * j + l]!;
      const c = L[64 * j + 32 + l]!;
      bytes[qs + 32 * j + l] = (a & 15) | ((c & 15) << 4);
      if (five) orByte(bytes, o + 16 + l, ((a >> 4) << (2 * j)) | ((c >> 4) << (2 * j + 1)));
    }
}

/** bytes[i] |= bits, spelled so that the compiler's index checks see a defined value. */
function orByte(bytes: Uint8Array, i: number, bits: number): void {
  bytes[i] = bytes[i]! | bits;
}

/** Q2_K / Q3_K: put the 2 low bits of each level where low2() reads them (qs[64] at `qs`). */
function writeLow2(L: Uint8Array, bytes: Uint8Array, qs: number): void {
  bytes.fill(0, qs, qs + 64);
  for (let e = 0; e < 256; e++) {
    const j = e >> 5;
    orByte(bytes, qs + 32 * (j >> 2) + (e & 31), (L[e]! & 3) << (2 * (j & 3)));
  }
}

/** Q2_K: 16 sub-blocks of 16 on levels 0..3, 4-bit scale and min each under f16 d and dmin. */
function quantizeQ2KBlock(x: Float32Array, bytes: Uint8Array, o: number): void {
  const v = view(bytes);
  const scales = new Float32Array(16);
  const mins = new Float32Array(16);
  const w = new Float32Array(16);
  for (let j = 0; j < 16; j++) {
    const sub = x.subarray(16 * j, 16 * j + 16);
    for (let i = 0; i < 16; i++) w[i] = Math.abs(sub[i]!) + 1e-12;
    const [s, m] = fitScaleMin(sub, w, 3);
    scales[j] = s;
    mins[j] = -m;
  }
  const maxScale = Math.max(...scales);
  const maxMin = Math.max(...mins);
  const dh = toHalf(maxScale / 15);
  const dminh = toHalf(maxMin / 15);
  const d = fromHalf(dh);
  const dmin = fromHalf(dminh);
  const L = new Uint8Array(256);
  for (let j = 0; j < 16; j++) {
    const ls = d ? Math.min(15, Math.round(scales[j]! / d)) : 0;
    const lm = dmin ? Math.min(15, Math.round(mins[j]! / dmin)) : 0;
    bytes[o + j] = ls | (lm << 4);
    const s = d * ls;
    const m = dmin * lm;
    for (let i = 0; i < 16; i++)
      L[16 * j + i] = s ? Math.max(0, Math.min(3, Math.round((x[16 * j + i]! + m) / s))) : 0;
  }
  writeLow2(L, bytes, o + 16);
  v.setUint16(o + 80, dh, true);
  v.setUint16(o + 82, dminh, true);
}

/**
 * Q3_K: 16 sub-blocks of 16 on signed levels -4..3 (2 low bits in qs, the third in hmask), a
 * signed 6-bit scale each (stored +32) under an f16 d. Each sub-block's scale maps its value of
 * largest magnitude to level -4, as ggml's symmetric quantizers do.
 */
function quantizeQ3KBlock(x: Float32Array, bytes: Uint8Array, o: number): void {
  const v = view(bytes);
  const scales = new Float32Array(16);
  let maxAbs = 0;
  let maxScale = 0;
  for (let j = 0; j < 16; j++) {
    let amax = 0;
    let mx = 0;
    for (let i = 0; i < 16; i++) {
      const t = x[16 * j + i]!;
      if (Math.abs(t) > amax) [amax, mx] = [Math.abs(t), t];
    }
    scales[j] = mx / -4;
    if (Math.abs(scales[j]!) > maxAbs) [maxAbs, maxScale] = [Math.abs(scales[j]!), scales[j]!];
  }
  bytes.fill(0, o, o + 110);
  const L = new Uint8Array(256).fill(4);
  let d = 0;
  if (maxAbs > 0) {
    const iscale = -32 / maxScale;
    const dh = toHalf(1 / iscale);
    d = fromHalf(dh);
    v.setUint16(o + 108, dh, true);
  }
  for (let j = 0; j < 16; j++) {
    const ls = d ? Math.max(-32, Math.min(31, roundf(scales[j]! / d))) : 0;
    const stored = ls + 32;
    orByte(bytes, o + 96 + (j & 7), (stored & 15) << (j < 8 ? 0 : 4));
    orByte(bytes, o + 96 + 8 + (j & 3), (stored >> 4) << (2 * (j >> 2)));
    const s = d * ls;
    for (let i = 0; i < 16; i++)
      L[16 * j + i] = (s ? Math.max(-4, Math.min(3, roundf(x[16 * j + i]! / s))) : 0) + 4;
  }
  writeLow2(L, bytes, o + 32);
  for (let e = 0; e < 256; e++) if (L[e]! >= 4) orByte(bytes, o + (e & 31), 1 << (e >> 5));
}

function quantizeQ6KBlock(x: Float32Array, bytes: Uint8Array, o: number): void {
  const v = view(bytes);
  // Per 16 values: a signed scale whose extreme value maps to level -32 (levels -32..31).
  const scales = new Float32Array(16);
  let maxAbs = 0;
  let maxScale = 0;
  for (let j = 0; j < 16; j++) {
    let amax = 0;
    let mx = 0;
    for (let i = 0; i < 16; i++) {
      const t = x[16 * j + i]!;
      if (Math.abs(t) > amax) [amax, mx] = [Math.abs(t), t];
    }
    scales[j] = mx / -32;
    if (Math.abs(scales[j]!) > maxAbs) [maxAbs, maxScale] = [Math.abs(scales[j]!), scales[j]!];
  }
  const L = new Uint8Array(256).fill(32);
  if (maxAbs === 0) {
    // All-zero block: level 32 (zero) everywhere, d = 0.
    bytes.fill(0, o, o + 210);
    writeQ6Levels(L, bytes, o);
    v.setUint16(o + 208, 0, true);
    return;
  }
  const iscale = -128 / maxScale;
  const dh = toHalf(1 / iscale);
  const d = fromHalf(dh);
  v.setUint16(o + 208, dh, true);
  for (let j = 0; j < 16; j++) {
    const sc = Math.max(-128, Math.min(127, roundf(iscale * scales[j]!)));
    v.setInt8(o + 192 + j, sc);
    const s = d * sc;
    for (let i = 0; i < 16; i++) {
      const q = s ? Math.max(-32, Math.min(31, roundf(x[16 * j + i]! / s))) : 0;
      L[16 * j + i] = q + 32;
    }
  }
  writeQ6Levels(L, bytes, o);
}

function writeQ6Levels(L: Uint8Array, bytes: Uint8Array, o: number): void {
  for (let half = 0; half < 2; half++) {
    const ql = o + 64 * half;
    const qh = o + 128 + 32 * half;
    const base = 128 * half;
    for (let l = 0; l < 32; l++) {
      const q1 = L[base + l]!;
      const q2 = L[base + l + 32]!;
      const q3 = L[base + l + 64]!;
      const q4 = L[base + l + 96]!;
      bytes[ql + l] = (q1 & 15) | ((q3 & 15) << 4);
      bytes[ql + l + 32] = (q2 & 15) | ((q4 & 15) << 4);
      bytes[qh + l] = (q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6);
    }
  }
}
