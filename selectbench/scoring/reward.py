"""`reward`: quality from a sequence-classification reward model (MoDS' quality filter, and the
surveyed methods that score with a reward model).

score = the reward model's logit for (instruction, response), higher = better:

* `input: pair` (default) — the tokenizer's text pair `tok(instruction, response)` (`[CLS] q
  [SEP] a [SEP]` for BERT/DeBERTa), the input of OpenAssistant's
  `reward-model-deberta-v3-large-v2`, the quality model MoDS uses;
* `input: chat_template` — the conversation through the reward tokenizer's chat template
  (recent decoder reward models).

instruction = the user turn, or a role-labelled transcript when there is a system prompt or
earlier turns (`rating.instruction_and_response`); response = the last assistant turn. The
model's `num_labels` must be 1, or `label` must name the column of a multi-logit head.
Examples are length-bucketed and right-padded in batches (`AutoModelForSequenceClassification`
handles padding through the attention mask); batched = one at a time (tested). Pairs longer
than `max_length` are cut `longest_first` (column `truncated`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..errors import ScoreError
from .base import PoolFile, ScoreContext, pool_chunks, pool_id_series, scorer
from .lm import BLOCK as LM_BLOCK
from .lm import length_buckets
from .rating import instruction_and_response


def reward_inputs(tok, pool, mode: str, max_length: int):
    """(token-id lists, token-type-id lists or None, truncated flags) per example of `pool` (a
    table or a chunk: column → list); the segment ids of a text pair are kept (BERT-style heads
    read them)."""
    ids = [str(i) for i in pool["id"]]
    pairs = []
    for i, messages in zip(ids, pool["messages"]):
        try:
            pairs.append(instruction_and_response(messages))
        except ValueError:
            raise ScoreError(f"id '{i}': no assistant turn to score") from None
    if mode == "pair":
        full = tok([q for q, _ in pairs], [a for _, a in pairs], truncation=False)["input_ids"]
        enc = tok([q for q, _ in pairs], [a for _, a in pairs], truncation="longest_first",
                  max_length=max_length)
        cut = enc["input_ids"]
        types = [list(t) for t in enc["token_type_ids"]] if "token_type_ids" in enc else None
    elif mode == "chat_template":
        chats = [[{"role": "user", "content": q}, {"role": "assistant", "content": a}] for q, a in pairs]
        texts = [tok.apply_chat_template(c, tokenize=False) for c in chats]
        full = tok(texts, add_special_tokens=False)["input_ids"]
        cut = [row[:max_length] for row in full]
        types = None
    else:
        raise ScoreError(f"reward: input must be 'pair' or 'chat_template' (got {mode!r})")
    return [list(c) for c in cut], types, [len(f) > len(c) for f, c in zip(full, cut)]


def reward_logits(model, encoded: list[list[int]], pad_id: int, batch_size: int, device: str,
                  label: int = 0, token_types: list[list[int]] | None = None) -> np.ndarray:
    import torch

    out = np.empty(len(encoded), dtype=np.float64)
    with torch.inference_mode():
        for idx in length_buckets([len(e) for e in encoded], batch_size):
            width = max(len(encoded[i]) for i in idx)
            ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
            attn = torch.zeros((len(idx), width), dtype=torch.long)
            types = torch.zeros((len(idx), width), dtype=torch.long)
            for r, i in enumerate(idx):
                ids[r, :len(encoded[i])] = torch.tensor(encoded[i])
                attn[r, :len(encoded[i])] = 1
                if token_types is not None:
                    types[r, :len(encoded[i])] = torch.tensor(token_types[i])
            extra = {"token_type_ids": types.to(device)} if token_types is not None else {}
            logits = model(input_ids=ids.to(device), attention_mask=attn.to(device), **extra).logits.float()
            out[idx] = logits[:, label].cpu().numpy()
    return out


@scorer("reward", needs_model=True, shard_align=LM_BLOCK, streams=True, params={"input": "pair", "label": None, "batch_size": 16,
                                            "max_length": 512, "precision": "auto"})
def reward_score(pool: PoolFile | pd.DataFrame, ctx: ScoreContext) -> pd.DataFrame:
    """Reward-model logit of (instruction, response); higher = better quality.

    The pool is read, tokenized and scored in chunks of `lm.BLOCK` rows (the length buckets never
    cross such a block: the scores equal a whole-pool pass).
    """
    from transformers import AutoModelForSequenceClassification

    from ..modeling import load_tokenizer, resolve_dtype

    p = ctx.params
    tok = load_tokenizer(ctx.model)
    model = AutoModelForSequenceClassification.from_pretrained(
        ctx.model.name_or_path, dtype=resolve_dtype(p["precision"], ctx.device), **ctx.model.kwargs())
    model = model.to(ctx.device).eval()
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tok.pad_token_id
    n_labels = int(model.config.num_labels)
    label = p["label"]
    if label is None:
        if n_labels != 1:
            raise ScoreError(f"reward: {ctx.model.name_or_path} has {n_labels} labels; "
                             "set scoring.reward.label to the index of the reward logit")
        label = 0
    if not 0 <= int(label) < n_labels:
        raise ScoreError(f"reward: label {label} is not one of the model's {n_labels} outputs")
    scores, truncated, tokens = [], [], 0
    for chunk in pool_chunks(pool, ("id", "messages"), LM_BLOCK):
        enc, types, cut = reward_inputs(tok, chunk, p["input"], int(p["max_length"]))
        scores.append(reward_logits(model, enc, tok.pad_token_id, int(p["batch_size"]), ctx.device, int(label),
                                    types))
        truncated += cut
        tokens += sum(len(e) for e in enc)
    out = pd.DataFrame({"id": pool_id_series(pool),
                        "score": np.concatenate(scores) if scores else np.zeros(0), "truncated": truncated})
    n_params = sum(t.numel() for t in model.parameters())
    tokens = int(tokens)
    out.attrs["cost"] = {"tokens": tokens, "params": n_params, "flops_estimate": 2 * n_params * tokens}
    return out
