/**
 * Streaming JSON for the Hetionet dump: the dump is one object; its `nodes` and `edges` arrays are
 * cut into elements (each parsed on its own by the caller), other top-level values are small and
 * handed over whole. One pass, chunk boundaries anywhere, bounded by the largest element.
 */
import {
  DEFAULT_INPUT_LIMITS,
  IngestError,
  tooDeepReason,
  tooLargeReason,
  type InputLimits,
} from "../types.js";

export type JsonItem =
  | { kind: "value"; key: string; text: string }
  | { kind: "element"; key: string; index: number; text: string };

/** Splits the top-level object of a JSON document into keys and array elements, in one pass. */
export class TopLevelJsonSplitter {
  private buf = "";
  private pos = 0;
  /** Bracket stack ("{" / "["), as char codes. */
  private stack: number[] = [];
  private inString = false;
  private started = false;
  private finished = false;
  /** Top-level state: key, colon, value, comma. */
  private expect: "key" | "colon" | "value" | "comma" = "key";
  private key = "";
  private keyStart = -1;
  private captureStart = -1;
  private streamKey: string | null = null;
  private elementIndex = 0;
  /** Streamed keys whose array was opened (an empty "edges": [] yields no element but exists). */
  readonly streamedKeys = new Set<string>();
  /** Characters already dropped from the front of `buf` (for absolute positions in errors). */
  private dropped = 0;
  constructor(
    private readonly file: string,
    private readonly streamKeys: ReadonlySet<string>,
    private readonly limits: InputLimits = DEFAULT_INPUT_LIMITS,
  ) {}

  private fail(msg: string): never {
    throw new IngestError(
      msg,
      this.file,
      this.streamKey ? `${this.streamKey}[${this.elementIndex}]` : undefined,
    );
  }

  feed(chunk: string): JsonItem[] {
    const out: JsonItem[] = [];
    this.buf += chunk;
    const b = this.buf;
    let i = this.pos;
    const n = b.length;
    while (i < n) {
      if (this.inString) {
        const q = b.indexOf('"', i);
        if (q < 0) {
          i = n;
          break;
        }
        let bs = 0;
        for (let j = q - 1; j >= 0 && b.charCodeAt(j) === 92; j--) bs++;
        i = q + 1;
        if (bs % 2 === 1) continue; // escaped quote
        this.inString = false;
        if (this.stack.length === 1 && this.expect === "key" && this.keyStart >= 0) {
          this.key = JSON.parse(b.slice(this.keyStart, i)) as string;
          this.keyStart = -1;
          this.expect = "colon";
        }
        continue;
      }
      const c = b.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) {
        i++;
        continue;
      }
      if (this.finished)
        this.fail(
          `unexpected text after the end of the top-level object at character ${this.dropped + i}`,
        );
      if (!this.started) {
        if (c !== 123) this.fail("expected a JSON object (Hetionet JSON starts with '{')");
        this.started = true;
        this.stack.push(123);
        i++;
        continue;
      }
      const depth = this.stack.length;
      if (depth === 1) {
        // Top-level object: "key": value, ...
        if (this.expect === "key") {
          if (c === 34) {
            this.keyStart = i;
            this.inString = true;
            i++;
            continue;
          }
          if (c === 125 && this.key === "") {
            this.stack.pop();
            this.finished = true;
            i++;
            continue;
          }
          this.fail(
            `expected a key string in the top-level object at character ${this.dropped + i}`,
          );
        }
        if (this.expect === "colon") {
          if (c !== 58) this.fail(`expected ':' after key "${this.key}"`);
          this.expect = "value";
          i++;
          continue;
        }
        if (this.expect === "value") {
          if (this.streamKeys.has(this.key)) {
            if (c !== 91) this.fail(`expected "${this.key}" to be an array`);
            this.streamKey = this.key;
            this.streamedKeys.add(this.key);
            this.elementIndex = 0;
            this.stack.push(91);
            this.expect = "comma";
            i++;
            continue;
          }
          this.captureStart = i;
          this.expect = "comma";
          if (c === 123 || c === 91) {
            this.stack.push(c);
            i++;
            continue;
          }
          if (c === 34) {
            this.inString = true;
            i++;
            continue;
          }
          // A bare scalar: runs until the next ',' or '}' at depth 1.
          let j = i;
          while (j < n && !/[,}\s]/.test(b[j]!)) j++;
          if (j === n) {
            // The scalar may continue in the next chunk: rescan it from its start then.
            this.expect = "value";
            this.captureStart = -1;
            break;
          }
          out.push({ kind: "value", key: this.key, text: b.slice(this.captureStart, j) });
          this.captureStart = -1;
          i = j;
          continue;
        }
        // expect === "comma"
        if (this.captureStart >= 0) {
          // A string value just ended.
          out.push({ kind: "value", key: this.key, text: b.slice(this.captureStart, i) });
          this.captureStart = -1;
        }
        if (c === 44) {
          this.expect = "key";
          this.key = "";
          i++;
          continue;
        }
        if (c === 125) {
          this.stack.pop();
          this.finished = true;
          i++;
          continue;
        }
        this.fail(
          `expected ',' or '}' after the value of "${this.key}" at character ${this.dropped + i}`,
        );
      }
      if (depth === 2 && this.streamKey !== null) {
        // Inside a streamed array, between elements.
        if (c === 44) {
          i++;
          continue;
        }
        if (c === 93) {
          this.stack.pop();
          this.streamKey = null;
          i++;
          continue;
        }
        this.captureStart = i;
        if (c === 123 || c === 91) {
          this.stack.push(c);
          i++;
          continue;
        }
        this.fail(`expected an object in "${this.streamKey}" at element ${this.elementIndex}`);
      }
      // Inside a captured value or element: track brackets and strings only.
      if (c === 34) {
        this.inString = true;
        i++;
        continue;
      }
      if (c === 123 || c === 91) {
        this.stack.push(c);
        // Depth counts inside the element (or top-level value), not the dump's own two levels.
        if (this.stack.length - (this.streamKey !== null ? 2 : 1) > this.limits.maxDepth) {
          this.fail(
            `${tooDeepReason(this.streamKey !== null ? "this element" : `the value of "${this.key}"`, this.limits)} at character ${this.dropped + i}`,
          );
        }
      } else if (c === 125 || c === 93) {
        const open = this.stack.pop();
        if ((c === 125 && open !== 123) || (c === 93 && open !== 91)) {
          this.fail(`mismatched '${String.fromCharCode(c)}' at character ${this.dropped + i}`);
        }
        const nd = this.stack.length;
        // An element that began and ended inside one (large) chunk is checked here.
        if (nd <= 2 && i + 1 - this.captureStart > this.limits.maxRecordChars) {
          this.fail(
            tooLargeReason(
              nd === 2 && this.streamKey !== null ? "one element" : `the value of "${this.key}"`,
              i + 1 - this.captureStart,
              this.limits,
            ),
          );
        }
        if (nd === 2 && this.streamKey !== null) {
          out.push({
            kind: "element",
            key: this.streamKey,
            index: this.elementIndex++,
            text: b.slice(this.captureStart, i + 1),
          });
          this.captureStart = -1;
        } else if (nd === 1) {
          out.push({ kind: "value", key: this.key, text: b.slice(this.captureStart, i + 1) });
          this.captureStart = -1;
        }
      }
      i++;
    }
    // Keep only what a pending capture or key still needs.
    const keep = Math.min(...[this.captureStart, this.keyStart, i].filter((x) => x >= 0));
    this.buf = b.slice(keep);
    this.dropped += keep;
    this.pos = i - keep;
    if (this.captureStart >= 0) this.captureStart -= keep;
    if (this.keyStart >= 0) this.keyStart -= keep;
    if (this.buf.length > this.limits.maxRecordChars) {
      this.fail(
        tooLargeReason(
          this.streamKey !== null ? "one element" : `the value of "${this.key}"`,
          this.buf.length,
          this.limits,
        ),
      );
    }
    return out;
  }

  end(): void {
    if (!this.started) this.fail("empty file: expected a JSON object");
    if (!this.finished) {
      this.fail("unexpected end of JSON (file truncated?): the top-level object is not closed");
    }
  }
}
