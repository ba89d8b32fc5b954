/**
 * The seven projections of a llama-family block that LoRA can adapt, in mlx-lm's adapter naming —
 * the one list the presets, the config checks, the model and the CLI share.
 */
import type { LoraModule } from "../native/binding.js";

export const LORA_MODULES = [
  "self_attn.q_proj",
  "self_attn.k_proj",
  "self_attn.v_proj",
  "self_attn.o_proj",
  "mlp.gate_proj",
  "mlp.up_proj",
  "mlp.down_proj",
] as const satisfies readonly LoraModule[];
