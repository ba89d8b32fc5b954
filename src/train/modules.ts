/**
 * The seven projections of a llama-family block that LoRA can adapt, in mlx-lm's adapter naming —
 * the one list the presets, the config checks, the model, the CLI and the native binding's
 * LoraModule type share (native/src/model_llama.cc's kLoraModules, exported to JS as
 * `loraModules`, is checked equal to it by test/train/native-options.test.ts).
 */
export const LORA_MODULES = [
  "self_attn.q_proj",
  "self_attn.k_proj",
  "self_attn.v_proj",
  "self_attn.o_proj",
  "mlp.gate_proj",
  "mlp.up_proj",
  "mlp.down_proj",
] as const;
