/**
 * TensorBoard event files written by medtune itself: logs/tensorboard/<run>/events.out.tfevents.*,
 * which `tensorboard --logdir logs/tensorboard` shows. The format is TFRecord framing — length
 * (uint64 LE), masked CRC-32C of the length, the record, masked CRC-32C of the record — around
 * Event protobufs (wall_time = 1: double, step = 2: int64, file_version = 3: string, summary = 5)
 * whose Summary holds Values (tag = 1: string, simple_value = 2: float), encoded here by hand.
 *
 *   const tb = TensorBoardWriter.open("logs/tensorboard/quick_test");
 *   tb.scalars(12, { "loss/train": 2.31, "memory/peak_mib": 1775 }); tb.close();
 */
import { appendFileSync, mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven.
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32c(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = (CRC_TABLE[(c ^ b) & 0xff] as number) ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** TFRecord's masked CRC: rotate right by 15, add a constant (so CRCs of CRCs stay strong). */
export function maskedCrc32c(bytes: Uint8Array): number {
  const c = crc32c(bytes);
  return ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

/** One TFRecord: length, its masked CRC, data, data's masked CRC. */
export function tfRecord(data: Uint8Array): Buffer {
  const head = Buffer.alloc(12);
  head.writeBigUInt64LE(BigInt(data.length), 0);
  head.writeUInt32LE(maskedCrc32c(head.subarray(0, 8)), 8);
  const tail = Buffer.alloc(4);
  tail.writeUInt32LE(maskedCrc32c(data), 0);
  return Buffer.concat([head, data, tail]);
}

// --- protobuf wire format (only what Event and Summary need) ---
function varint(n: number | bigint): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const key = (field: number, wireType: number) => varint((field << 3) | wireType);
function bytesField(field: number, data: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([...key(field, 2), ...varint(data.length)]), data]);
}
function doubleField(field: number, v: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(v, 0);
  return Buffer.concat([Buffer.from(key(field, 1)), b]);
}
function floatField(field: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeFloatLE(v, 0);
  return Buffer.concat([Buffer.from(key(field, 5)), b]);
}
const int64Field = (field: number, v: number) => Buffer.from([...key(field, 0), ...varint(v)]);

/** An Event protobuf with a file_version or a Summary of scalar values. */
export function encodeEvent(
  e: { wallTime: number; step: number } & (
    { fileVersion: string } | { scalars: Record<string, number> }
  ),
): Buffer {
  const parts = [doubleField(1, e.wallTime), int64Field(2, e.step)];
  if ("fileVersion" in e) parts.push(bytesField(3, Buffer.from(e.fileVersion)));
  else {
    const values = Object.entries(e.scalars).map(([tag, v]) =>
      bytesField(1, Buffer.concat([bytesField(1, Buffer.from(tag)), floatField(2, v)])),
    );
    parts.push(bytesField(5, Buffer.concat(values)));
  }
  return Buffer.concat(parts);
}

export class TensorBoardWriter {
  private constructor(readonly file: string) {}

  /** A new event file in `dir` (one per process start, as TensorBoard's own writers do). */
  static open(dir: string): TensorBoardWriter {
    mkdirSync(dir, { recursive: true });
    const now = Date.now() / 1000;
    const file = join(dir, `events.out.tfevents.${Math.floor(now)}.${hostname()}.${process.pid}`);
    const w = new TensorBoardWriter(file);
    appendFileSync(
      file,
      tfRecord(encodeEvent({ wallTime: now, step: 0, fileVersion: "brain.Event:2" })),
    );
    return w;
  }

  /** Scalars of one step; non-finite values are skipped (TensorBoard cannot plot them). */
  scalars(step: number, values: Record<string, number | undefined>): void {
    const finite = Object.fromEntries(
      Object.entries(values).filter((kv): kv is [string, number] => Number.isFinite(kv[1])),
    );
    if (Object.keys(finite).length === 0) return;
    appendFileSync(
      this.file,
      tfRecord(encodeEvent({ wallTime: Date.now() / 1000, step, scalars: finite })),
    );
  }
}
