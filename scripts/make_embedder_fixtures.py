"""Golden fixtures for the native BERT encoder and the bundled sentence embedder.

Writes test/fixtures/bert/:

    tiny-gelu/, tiny-tanh/    tiny random BertModel checkpoints (2 layers, hidden 32, 4 heads, MLP 64,
                              vocab 128, 40 positions): config.json + model.safetensors, and
                              expected.json with the inputs (ids, mask, token types: 3 rows of 12,
                              right-padded) and transformers' outputs: last_hidden_state, mean- and
                              CLS-pooled, each also L2-normalised. tiny-tanh uses hidden_act
                              gelu_new, a "bert." prefix on its tensor names and non-zero token types.
    minilm-reference.json     for the bundled all-MiniLM-L6-v2 (models/embeddings/, set-up step
                              "embedder"): fixed biomedical sentences, the fast tokenizer's ids
                              (truncated at max_seq_length 256) and the sentence vectors —
                              AutoModel + mean pooling over the mask + L2 normalise, exactly what
                              sentence-transformers computes for this model; plus tokenizer-only
                              cases (CJK, control characters, accents, symbols, a 140-letter word).

Run with a Python that has torch + transformers (not project dependencies; tests read only the files):

    /work/main/.venv-bench/bin/python scripts/make_embedder_fixtures.py

Deterministic for a given torch/transformers version (fixed seeds); versions go into each file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
import transformers
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "test" / "fixtures" / "bert"
MINILM = ROOT / "models" / "embeddings" / "all-MiniLM-L6-v2"

VERSIONS = {"torch": torch.__version__, "transformers": transformers.__version__}

SENTENCES = [
    "Metformin lowers hepatic glucose production in patients with type 2 diabetes.",
    "In type 2 diabetes, metformin reduces the amount of glucose the liver produces.",
    "Warfarin's anticoagulant effect is potentiated by concomitant amiodarone.",
    "Amiodarone increases the INR of patients taking warfarin.",
    "The trial enrolled 240 adults with moderate-to-severe plaque psoriasis.",
    "β-blockers such as propranolol reduce portal pressure in cirrhosis.",
    "Naïve T cells differentiate into TH17 cells in the presence of IL-6 and TGF-β.",
    "The hospital cafeteria closes at 8 pm on weekends.",
    # Longer than max_seq_length (256 tokens): checks the truncation rule.
    " ".join(
        [
            "Pembrolizumab is a humanised monoclonal antibody against PD-1 that restores T-cell",
            "mediated antitumour immunity; in non-small-cell lung cancer with PD-L1 expression on",
            "at least 50% of tumour cells it prolonged progression-free and overall survival",
            "compared with platinum-based chemotherapy, with fewer treatment-related adverse events.",
        ]
        * 5
    ),
]

# Tokenizer-only cases: CJK, control and zero-width characters, accents, symbols, an over-long word,
# special-token strings inside text, abbreviations, surrounding spaces, the empty string.
TOKENIZER_CASES = [
    "患者 received 5 mg/kg of 阿司匹林 daily.",
    "Tab\tseparated\u0000 and zero\u200bwidth  spaces",
    "ÉCOLE Ångström Øresund naïve façade",
    "Emoji 💊 and symbols ± µg ≥ 10⁻³ °C",
    "Supercalifragilisticexpialidociouspneumonoultramicroscopicsilicovolcanoconiosis"
    "antidisestablishmentarianismfloccinaucinihilipilification is long",
    "[CLS] inside text [SEP] and [MASK]",
    "U.S.A. e.g. i.e., (p<0.05); IC50=3.2nM",
    "  leading and trailing   ",
    "",
]


def round_list(t: torch.Tensor) -> list:
    return [round(float(x), 7) for x in t.reshape(-1).tolist()]


def pooled(hidden: torch.Tensor, mask: torch.Tensor) -> dict[str, list]:
    m = mask.unsqueeze(-1).to(hidden.dtype)
    mean = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
    cls = hidden[:, 0]
    return {
        "mean": round_list(mean),
        "meanNormalized": round_list(F.normalize(mean, p=2, dim=1)),
        "cls": round_list(cls),
        "clsNormalized": round_list(F.normalize(cls, p=2, dim=1)),
    }


def tiny_case(name: str, hidden_act: str, prefix: str, token_types: bool, seed: int) -> None:
    torch.manual_seed(seed)
    config = transformers.BertConfig(
        vocab_size=128,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=40,
        type_vocab_size=2,
        hidden_act=hidden_act,
        layer_norm_eps=1e-12,
        attn_implementation="eager",
    )
    model = transformers.BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():
        # Larger than the default init (std 0.02), and non-trivial LayerNorms, so that every term
        # of the forward pass moves the output.
        for key, p in model.named_parameters():
            p.copy_(torch.randn_like(p) * 0.3 + (1.0 if key.endswith("LayerNorm.weight") else 0.0))
    B, L = 3, 12
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.randint(1, 128, (B, L), generator=g)
    lengths = [12, 7, 3]
    mask = torch.zeros(B, L, dtype=torch.long)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1
        ids[b, n:] = 0
    types = (
        torch.randint(0, 2, (B, L), generator=g) * mask
        if token_types
        else torch.zeros(B, L, dtype=torch.long)
    )
    with torch.no_grad():
        hidden = model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state

    d = OUT / name
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True)
    config_dict = config.to_dict()
    config_dict.pop("attn_implementation", None)
    config_dict.pop("_attn_implementation_autoset", None)
    (d / "config.json").write_text(json.dumps(config_dict, indent=2) + "\n")
    tensors = {prefix + k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(d / "model.safetensors"), metadata={"format": "pt"})
    expected = {
        "versions": VERSIONS,
        "shape": [B, L],
        "hiddenSize": 32,
        "ids": ids.reshape(-1).tolist(),
        "mask": mask.reshape(-1).tolist(),
        "typeIds": types.reshape(-1).tolist(),
        "lastHiddenState": round_list(hidden),
        **pooled(hidden, mask),
    }
    (d / "expected.json").write_text(json.dumps(expected) + "\n")
    print(f"wrote {d}")


def minilm_reference() -> None:
    if not (MINILM / "config.json").exists():
        raise SystemExit(f"{MINILM} is missing: run `node scripts/setup.mjs --only embedder` first")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(MINILM))
    model = transformers.AutoModel.from_pretrained(str(MINILM), attn_implementation="eager").eval()
    max_seq_length = json.loads((MINILM / "sentence_bert_config.json").read_text())[
        "max_seq_length"
    ]
    # What sentence-transformers' Transformer module does: pad to the batch, truncate at max_seq_length.
    batch = tokenizer(
        SENTENCES, padding=True, truncation="longest_first", max_length=max_seq_length,
        return_tensors="pt",
    )
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    vectors = F.normalize((hidden * m).sum(1) / m.sum(1).clamp(min=1e-9), p=2, dim=1)
    ids = [row[: int(n)].tolist() for row, n in zip(batch["input_ids"], mask.sum(1))]
    out = {
        "versions": VERSIONS,
        "model": "all-MiniLM-L6-v2",
        "maxSeqLength": max_seq_length,
        "pooling": "mean",
        "normalize": True,
        "sentences": SENTENCES,
        "ids": ids,
        "vectors": [round_list(v) for v in vectors],
        "tokenizerCases": {
            "texts": TOKENIZER_CASES,
            "ids": [
                tokenizer(t, truncation="longest_first", max_length=max_seq_length)["input_ids"]
                for t in TOKENIZER_CASES
            ],
        },
    }
    (OUT / "minilm-reference.json").write_text(json.dumps(out) + "\n")
    print(f"wrote {OUT / 'minilm-reference.json'} ({len(SENTENCES)} sentences)")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    tiny_case("tiny-gelu", "gelu", "", token_types=False, seed=13)
    tiny_case("tiny-tanh", "gelu_new", "bert.", token_types=True, seed=14)
    minilm_reference()


if __name__ == "__main__":
    main()
