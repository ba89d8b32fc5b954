// Small instruction records for training tests: a Hetionet-style question and answer with the
// metadata every record carries (src/data/record.ts).
import type { InstructionRecord } from "../../src/data/record.js";

export const hetionetRecord = (id: string, q: string, a: string): InstructionRecord => ({
  id,
  instruction: q,
  input: "",
  output: a,
  metadata: {
    source: "hetionet",
    task: "hetionet.CtD",
    confidence: 1,
    citations: ["Hetionet:CtD"],
    license: "CC0-1.0",
    provenance: {},
  },
});
