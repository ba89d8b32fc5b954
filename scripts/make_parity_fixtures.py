"""Golden fixtures for the native model: tiny random HF checkpoints + transformers' logits.

The native trainer (native/) must compute the same logits as transformers for each architecture
it supports, and load PEFT adapters the way PEFT applies them. This script writes, for each case,
a Hugging Face directory under test/fixtures/parity/<name>/:

    config.json             HF config (2 layers, hidden 32, 4 heads × 8, 2 KV heads, MLP 64, vocab 256)
    model.safetensors       float32 weights, HF tensor names
    inputs.json             {"input_ids": [[...24 ids...], [...]]}: 2 sequences
    logits.safetensors      "logits": float32 (2, 24, 256) from transformers, eager attention
    adapter/ (lora case)    adapter_model.safetensors + adapter_config.json (PEFT), B nonzero,
                            and logits_with_adapter in logits.safetensors

The "biogpt" case is GPT-2-style instead (BioGptConfig: learned positions, LayerNorm with bias,
GELU, biases everywhere, tied embeddings; vocab 256, max_position_embeddings 64) with a PEFT
adapter on q/k/v/out_proj and fc1/fc2. Beside it, test/fixtures/biogpt-tokenizer/ holds a
BioGPT tokenizer in the real file format (vocab.json + merges.txt + tokenizer_config.json, as
BioGptTokenizer.save_pretrained writes them; the BPE is learned here from a few biomedical
sentences so the files stay small) and cases.json: transformers' ids, tokens and decoded text for
fixed sentences. BioGptTokenizer needs sacremoses (Moses tokenization) — fixture tooling only.

Run it in a throwaway venv (torch is not a project dependency; tests only read the files):

    python3 -m venv /tmp/parity-venv
    /tmp/parity-venv/bin/pip install torch==2.13.0 transformers safetensors peft sacremoses
    /tmp/parity-venv/bin/python scripts/make_parity_fixtures.py [case ...]

With case names (e.g. `biogpt biogpt-tokenizer`) only those are rewritten; the others stay as
they are and keep their manifest entries.

Output is deterministic for a given torch/transformers version (fixed seeds); the versions used
are written to test/fixtures/parity/manifest.json.
"""

from __future__ import annotations

import copy
import json
import shutil
import sys
from collections import Counter
from pathlib import Path

import torch
import transformers
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "parity"

SEQ_LEN = 24
VOCAB = 256

# Shared tiny shape: four float32 models must fit in < 1 MB together (hidden 64 / MLP 128 would
# take 1.9 MB), yet keep grouped-query attention (4 query heads share 2 KV heads), a gated MLP
# wider than the residual stream, and head_dim 8 (4 rotary frequencies).
BASE = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=128,
    rms_norm_eps=1e-5,
    tie_word_embeddings=False,
    dtype="float32",
)

CASES = {
    # Plain Llama, default rope_theta.
    "llama": ("llama", dict(rope_theta=10000.0)),
    # Llama 3.x rope scaling: frequencies rescaled by wavelength band (the Llama 3.1/3.2 recipe).
    # With head_dim 8 and theta 100 the 4 wavelengths are 6.3, 19.9, 62.8, 198.7 against bands
    # 32/4 = 8 and 32/1 = 32: one kept, one smoothly interpolated, two divided by the factor.
    "llama3_rope": (
        "llama",
        dict(
            rope_theta=100.0,
            rope_scaling=dict(
                rope_type="llama3",
                factor=8.0,
                low_freq_factor=1.0,
                high_freq_factor=4.0,
                original_max_position_embeddings=32,
            ),
        ),
    ),
    # Mistral with a sliding window shorter than the sequence, so the window changes the logits.
    "mistral": ("mistral", dict(rope_theta=1000000.0, sliding_window=8)),
    # Qwen2: biases on q/k/v projections, tied embeddings as in the small Qwen2.5 models.
    "qwen2": ("qwen2", dict(rope_theta=1000000.0, tie_word_embeddings=True, use_sliding_window=False)),
}

# BioGPT's own shape keys (no GQA, no RoPE, no RMSNorm): 4 heads x 8 over hidden 32, GELU MLP 64,
# 64 learned positions, token embeddings scaled by sqrt(32) and tied to the LM head as in
# microsoft/biogpt.
BIOGPT_BASE = dict(
    vocab_size=VOCAB,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    max_position_embeddings=64,
    hidden_act="gelu",
    scale_embedding=True,
    tie_word_embeddings=True,
    dtype="float32",
)
CASES["biogpt"] = ("biogpt", {})
BASES = {"biogpt": BIOGPT_BASE}

# The PEFT cases: LoRA on every attention and MLP projection of the plain llama fixture and of
# the biogpt fixture (BioGPT names them q/k/v_proj, out_proj, fc1, fc2).
LORA_CASES = {
    "llama": dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]),
    "biogpt": dict(r=4, lora_alpha=8, target_modules=["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]),
}


def make_config(model_type: str, extra: dict) -> transformers.PretrainedConfig:
    cls = transformers.AutoConfig.for_model(model_type).__class__
    # transformers edits rope_scaling in place (adds rope_theta): give it a copy.
    cfg = cls(**copy.deepcopy({**BASES.get(model_type, BASE), **extra}))
    # Eager attention is the plain softmax(QKᵀ/√d + mask)V reference; sdpa kernels may differ in ulps.
    cfg._attn_implementation = "eager"
    return cfg


def random_init(model: torch.nn.Module, seed: int) -> None:
    # HF's init leaves norms at 1 and biases at 0; perturb everything so no term can be skipped.
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.08 * torch.randn(p.shape, generator=gen))


def input_ids(seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, VOCAB, (2, SEQ_LEN), generator=gen)


def classic_config(cfg: transformers.PretrainedConfig, extra: dict) -> dict:
    """config.json as published checkpoints write it: rope_theta and rope_scaling at top level.

    transformers 5 folds both into "rope_parameters"; real Llama/Mistral/Qwen2 configs on the Hub
    (and so our loader) use the 4.x keys, which transformers 5 still reads.
    """
    d = cfg.to_dict()
    if "rope_theta" in extra:
        d.pop("rope_parameters", None)
        d["rope_theta"] = extra["rope_theta"]
        d["rope_scaling"] = copy.deepcopy(extra.get("rope_scaling"))
    d["torch_dtype"] = "float32"
    d.pop("dtype", None)
    d.pop("_attn_implementation_autoset", None)
    return d


def write_model(name: str, model: torch.nn.Module, ids: torch.Tensor, extra: dict) -> dict:
    out = OUT / name
    out.mkdir(parents=True)
    (out / "config.json").write_text(json.dumps(classic_config(model.config, extra), indent=2, sort_keys=True) + "\n")
    # Tied embeddings: save only the embedding, as HF does (lm_head.weight is the same tensor).
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)
        state.pop("output_projection.weight", None)  # BioGPT's LM head
    save_file(state, out / "model.safetensors", metadata={"format": "pt"})
    (out / "inputs.json").write_text(json.dumps({"input_ids": ids.tolist()}) + "\n")
    with torch.no_grad():
        logits = model(input_ids=ids).logits.float().contiguous()
    return {"logits": logits}


def add_lora(name: str, model: torch.nn.Module, ids: torch.Tensor, tensors: dict) -> None:
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(model, LoraConfig(**LORA_CASES[name], lora_dropout=0.0, bias="none", task_type="CAUSAL_LM"))
    # PEFT starts B at zero (adapter = identity); random B makes the adapter change the logits.
    gen = torch.Generator().manual_seed(1234)
    with torch.no_grad():
        for pname, p in peft_model.named_parameters():
            if "lora_A" in pname or "lora_B" in pname:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
    peft_model.eval()
    with torch.no_grad():
        tensors["logits_with_adapter"] = peft_model(input_ids=ids).logits.float().contiguous()
    peft_model.save_pretrained(OUT / name / "adapter", safe_serialization=True)
    # PEFT writes a README.md model card; the fixture only needs the two adapter files.
    (OUT / name / "adapter" / "README.md").unlink(missing_ok=True)


def verify(name: str, model_type: str, extra: dict, ids: torch.Tensor, tensors: dict) -> None:
    """Reload the written files the way a user would and check they reproduce the logits."""
    out = OUT / name
    model = transformers.AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32, attn_implementation="eager").eval()
    with torch.no_grad():
        again = model(input_ids=ids).logits
    assert torch.allclose(again, tensors["logits"], atol=1e-5), f"{name}: reloaded model differs"
    if "sliding_window" in extra:
        # The window must matter for this sequence length, or the fixture tests nothing.
        cfg = make_config(model_type, {**extra, "sliding_window": None})
        full = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
        full.load_state_dict(model.state_dict())
        with torch.no_grad():
            delta = (full(input_ids=ids).logits - tensors["logits"]).abs().max().item()
        assert delta > 1e-3, f"{name}: sliding_window={extra['sliding_window']} does not change the logits"
    if "rope_scaling" in extra:
        cfg = make_config(model_type, {**extra, "rope_scaling": None})
        plain = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
        plain.load_state_dict(model.state_dict())
        with torch.no_grad():
            delta = (plain(input_ids=ids).logits - tensors["logits"]).abs().max().item()
        assert delta > 1e-3, f"{name}: rope_scaling does not change the logits"
    if "logits_with_adapter" in tensors:
        from peft import PeftModel

        with_adapter = PeftModel.from_pretrained(model, out / "adapter").eval()
        with torch.no_grad():
            again = with_adapter(input_ids=ids).logits
        assert torch.allclose(again, tensors["logits_with_adapter"], atol=1e-5), f"{name}: reloaded adapter differs"
        assert (tensors["logits_with_adapter"] - tensors["logits"]).abs().max().item() > 1e-3, "adapter has no effect"


# ---------------------------------------------------------------------------------------------
# BioGPT tokenizer fixture

TOKENIZER_CASE = "biogpt-tokenizer"
TOKENIZER_OUT = ROOT / "test" / "fixtures" / TOKENIZER_CASE
BPE_MERGES = 400

# The BPE is learned from these (Moses-tokenized, case kept, as BioGPT's own vocabulary was).
BPE_CORPUS = [
    "Metformin is the first-line treatment for type 2 diabetes mellitus.",
    "Patients received 500 mg of metformin twice daily for 12 weeks.",
    "The hemoglobin A1c decreased from 8.1% to 7.2% (p < 0.001).",
    "Warfarin interacts with amiodarone, increasing the risk of bleeding.",
    "Beta-blockers reduce mortality after myocardial infarction.",
    "TNF-alpha inhibitors are used in rheumatoid arthritis and Crohn's disease.",
    "The randomized controlled trial enrolled 1,024 participants in the United States.",
    "Adverse events included nausea, vomiting, diarrhea and headache.",
    "BRCA1 and BRCA2 mutations increase the risk of breast and ovarian cancer.",
    "Aspirin inhibits cyclooxygenase and reduces platelet aggregation.",
    "The patient's blood pressure was 140/90 mmHg at baseline.",
    "Statins lower low-density lipoprotein cholesterol by inhibiting HMG-CoA reductase.",
    "Chronic kidney disease is a contraindication for high-dose metformin.",
    "Insulin resistance precedes the onset of type 2 diabetes.",
    "Dr. Smith et al. reported that the drug was well tolerated, i.e. no serious events occurred.",
    "Expression of the gene was measured by quantitative PCR in tumor and normal tissue.",
    "Clinical trials of the vaccine showed an efficacy of 95 percent against infection.",
    "The protein binds to the receptor and activates the signaling pathway.",
]

# Sentences whose ids the native tokenizer must reproduce: Moses rules (hyphens, nonbreaking
# prefixes, escaping, quotes, apostrophes, multi-dots, commas in numbers), characters missing
# from the vocabulary (<unk>), special-token text, and words the merges only partly cover.
TOKENIZER_SENTENCES = [
    "Metformin is the first-line treatment for type 2 diabetes mellitus.",
    "COVID-19 patients treated with dexamethasone (6 mg/day) had lower 28-day mortality.",
    "The IC50 of imatinib against BCR-ABL was 0.25 μM; the Ki was 1,200 nM.",
    "Dr. Smith et al. found no effect, e.g. on HbA1c [ref. 3] or eGFR.",
    "\"Don't stop,\" she said; it's the patient's choice & the doctor's duty.",
    "Results were inconclusive... further studies are needed!",
    "Is α-synuclein aggregation causal in Parkinson's disease?",
    "Doses of 5-10 mg/kg and/or 2.5 mg were compared (n = 42, 95% CI 1.2-3.4).",
    "The 5' UTR and 3'-end were sequenced; T cells ≥ 10⁹/L.",
    "Zürich naïve café — pH 7.4 at 37 °C",
    "  Extra   spaces\tand\nnew lines  ",
    "</s> an abstract about <unk> tokens and <pad> padding </s>",
    "Hydroxychloroquine|azithromycin <b>bold</b> {curly} $100 #1 @home",
    "See Table No. 5 and the patients' records; dose\x07 in\u00a0mg… (cf. Fig. 2).",
]


def learn_bpe(words: Counter, merges: int) -> list[tuple[str, str]]:
    """Classic word-level BPE with an end-of-word "</w>" on the last symbol (as BioGPT's fastBPE)."""
    vocab = {tuple(w[:-1]) + (w[-1] + "</w>",): c for w, c in words.items()}
    out = []
    for _ in range(merges):
        pairs: Counter = Counter()
        for sym, c in vocab.items():
            for pair in zip(sym, sym[1:]):
                pairs[pair] += c
        if not pairs:
            break
        best = max(pairs, key=lambda p: (pairs[p], p))  # ties broken by the pair itself: deterministic
        out.append(best)
        merged = {}
        for sym, c in vocab.items():
            new, i = [], 0
            while i < len(sym):
                if i + 1 < len(sym) and (sym[i], sym[i + 1]) == best:
                    new.append(sym[i] + sym[i + 1])
                    i += 2
                else:
                    new.append(sym[i])
                    i += 1
            merged[tuple(new)] = merged.get(tuple(new), 0) + c
        vocab = merged
    return out


def write_biogpt_tokenizer() -> None:
    import sacremoses
    from transformers import BioGptTokenizer

    moses = sacremoses.MosesTokenizer(lang="en")
    words: Counter = Counter()
    for line in BPE_CORPUS:
        words.update(moses.tokenize(line, aggressive_dash_splits=True, return_str=False, escape=True))
    merges = learn_bpe(words, BPE_MERGES)
    # Vocabulary as fairseq dictionaries start: the four specials, then symbols, then merges.
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    symbols = sorted({s for w in words for s in list(w[:-1]) + [w[-1] + "</w>"]})
    for tok in symbols + [a + b for a, b in merges]:
        vocab.setdefault(tok, len(vocab))
    shutil.rmtree(TOKENIZER_OUT, ignore_errors=True)
    TOKENIZER_OUT.mkdir(parents=True)
    raw = TOKENIZER_OUT / "raw"
    raw.mkdir()
    (raw / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False))
    (raw / "merges.txt").write_text("".join(f"{a} {b} {i}\n" for i, (a, b) in enumerate(merges)))
    tok = BioGptTokenizer(str(raw / "vocab.json"), str(raw / "merges.txt"))
    shutil.rmtree(raw)
    tok.save_pretrained(TOKENIZER_OUT)
    cases = []
    for text in TOKENIZER_SENTENCES:
        ids = tok.encode(text, add_special_tokens=False)
        cases.append(
            {
                "text": text,
                "tokens": tok.tokenize(text),
                "ids": ids,
                "ids_with_special_tokens": tok(text)["input_ids"],
                "decoded": tok.decode(ids),
            }
        )
    (TOKENIZER_OUT / "cases.json").write_text(json.dumps(cases, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {TOKENIZER_OUT.relative_to(ROOT)}: vocab {len(vocab)}, {len(merges)} merges", file=sys.stderr)


def main() -> None:
    only = set(sys.argv[1:])
    unknown = only - set(CASES) - {TOKENIZER_CASE}
    if unknown:
        sys.exit(f"unknown case(s) {sorted(unknown)}; cases: {sorted(CASES)} and {TOKENIZER_CASE}")
    manifest = {
        "generator": "scripts/make_parity_fixtures.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "seq_len": SEQ_LEN,
        "cases": {},
    }
    if only and (OUT / "manifest.json").exists():
        manifest["cases"] = json.loads((OUT / "manifest.json").read_text())["cases"]
    elif OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    if not only or TOKENIZER_CASE in only:
        write_biogpt_tokenizer()
    for i, (name, (model_type, extra)) in enumerate(CASES.items()):
        if only and name not in only:
            continue
        shutil.rmtree(OUT / name, ignore_errors=True)
        cfg = make_config(model_type, extra)
        model = transformers.AutoModelForCausalLM.from_config(cfg, dtype=torch.float32).eval()
        random_init(model, seed=100 + i)
        if cfg.tie_word_embeddings:
            model.tie_weights()
        ids = input_ids(seed=200 + i)
        tensors = write_model(name, model, ids, extra)
        case = {"model_type": model_type, "logits_shape": list(tensors["logits"].shape)}
        if name in LORA_CASES:
            add_lora(name, model, ids, tensors)
            lora = LORA_CASES[name]
            case["adapter"] = {**lora, "scale": lora["lora_alpha"] / lora["r"]}
        save_file(tensors, OUT / name / "logits.safetensors")
        verify(name, model_type, extra, ids, tensors)
        manifest["cases"][name] = case
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    total = sum(p.stat().st_size for p in OUT.rglob("*") if p.is_file())
    print(f"wrote {OUT.relative_to(ROOT)}: {total / 1024:.0f} KiB", file=sys.stderr)


if __name__ == "__main__":
    main()
