"""A tiny Llama base model, built and pre-trained locally in under a minute on CPU.

`build_tiny_llama` trains a byte-level BPE tokenizer on the corpus, creates a
`LlamaForCausalLM` (~1M parameters, tied embeddings) and pre-trains it as a
plain next-token language model. The output directory loads exactly like a hub
model (`AutoModelForCausalLM` / `AutoTokenizer.from_pretrained(out_dir)`), so
every stage, lm-eval included, treats it as any other base model.

Choices that make a model this small learnable in seconds (measured):

* Whitespace is its own token, so a word is the same token after a space or at
  the start of a line. In the Tulu format the answer follows
  ``<|assistant|>\n`` directly: with GPT-2 style pre-tokenization ("Ġfruit")
  the bare answer "fruit" would be split into rarely-seen pieces and nothing
  learned in pre-training would carry over to it.
* Many small steps beat few large ones: the category/polarity structure of the
  embeddings and the "read the review" skill appear after ~1,200-1,600 steps of
  4 x 64 tokens, not after 800 steps of twice the batch.
* The chat tags get fresh random embeddings after pre-training
  (`reinit_chat_tags`).
"""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path

import torch
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from ..formatting import SPECIAL_TOKENS

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"


def train_tokenizer(texts, vocab_size: int = 4096, out_dir=None,
                    model_max_length: int = 512, isolate_whitespace: bool = True) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on `texts` (saved to `out_dir` if given).

    `<s> </s> <pad> <unk>` get ids 0-3, the chat tags of `selectbench.formatting`
    are single special tokens, and a post-processor prepends `<s>` when
    ``add_special_tokens=True``. The BPE trainer may stop below `vocab_size`
    when the text has few distinct words.

    `isolate_whitespace` (the demo's models): every whitespace character is its own
    token, so a text cut at a space tokenizes the same in parts as whole. False gives
    the GPT-2 / Llama-3 pre-tokenizer (a space joins the word after it), as real models'
    tokenizers do: 41 % fewer tokens on T0 rows at the same vocabulary.
    """
    specials = [BOS, EOS, PAD, UNK, *SPECIAL_TOKENS]
    tok = Tokenizer(models.BPE(unk_token=UNK))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(r"\s"), behavior="isolated"),
                                                  byte_level])
                         if isolate_whitespace else byte_level)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B",
        special_tokens=[(BOS, tok.token_to_id(BOS))])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, unk_token=UNK,
        additional_special_tokens=list(SPECIAL_TOKENS), model_max_length=model_max_length)
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast


def pack_corpus(tokenizer, texts, seq_len: int) -> torch.Tensor:
    """Concatenate `<s> text </s>` documents and cut them into [n, seq_len] blocks."""
    ids: list[int] = []
    for enc in tokenizer(list(texts), add_special_tokens=True)["input_ids"]:
        ids += enc + [tokenizer.eos_token_id]
    n = len(ids) // seq_len
    if n == 0:
        raise ValueError(f"corpus has {len(ids)} tokens, fewer than seq_len={seq_len}")
    return torch.tensor(ids[: n * seq_len]).view(n, seq_len)


def lr_at(step: int, total: int, peak: float, warmup_frac: float = 0.1) -> float:
    """Linear warm-up then cosine decay to 10% of `peak`."""
    warmup = max(1, int(warmup_frac * total))
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (0.1 + 0.45 * (1 + math.cos(math.pi * progress)))


def llama_config(tokenizer, hidden_size: int, num_layers: int, num_heads: int,
                 intermediate_size: int | None, max_position: int) -> LlamaConfig:
    """A small Llama config with tied embeddings, sized to `tokenizer`."""
    return LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, num_hidden_layers=num_layers,
        num_attention_heads=num_heads, num_key_value_heads=num_heads,
        intermediate_size=intermediate_size or 4 * hidden_size,
        max_position_embeddings=max_position, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id)


def pretrain(model, blocks: torch.Tensor, *, steps: int, batch_size: int, lr: float,
             seed: int) -> list[float]:
    """Plain next-token pre-training on random batches of `blocks`; returns step losses."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.95))
    model.train()
    losses = []
    for step in range(steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, steps, lr)
        batch = blocks[torch.randint(len(blocks), (batch_size,), generator=gen)]
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())
    model.eval()
    return losses


def reinit_chat_tags(model, tokenizer, seed: int) -> None:
    """Give the chat tags fresh, distinct embeddings of typical norm (in place).

    The tags never occur in pre-training, and with tied embeddings every unseen
    token drifts the same way (pushed down as an output), so after pre-training
    ``<|user|>`` and ``<|assistant|>`` are nearly identical vectors. LoRA, which
    freezes the embeddings, could then not tell whose turn it is.
    """
    emb = model.get_input_embeddings().weight
    ids = tokenizer.convert_tokens_to_ids(list(SPECIAL_TOKENS))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        fresh = torch.randn(len(ids), emb.shape[1], generator=gen)
        emb[ids] = fresh / fresh.norm(dim=1, keepdim=True) * emb.norm(dim=1).mean()


def build_tiny_llama(out_dir, corpus_texts, *, vocab_size: int = 4096, hidden_size: int = 128,
                     num_layers: int = 2, num_heads: int = 4, intermediate_size: int | None = None,
                     max_position: int = 512, pretrain_steps: int = 1600, batch_size: int = 4,
                     seq_len: int = 64, lr: float = 3e-3, seed: int = 0,
                     threads: int = 1) -> dict:
    """Build, pre-train and save a tiny Llama base model (+ tokenizer) to `out_dir`.

    Writes the `save_pretrained` files and `pretrain_loss.csv` (step, loss);
    returns {params, pretrain_tokens, final_loss, wall_s, flops_estimate} where
    flops_estimate = 6 * params * pretrain_tokens. Deterministic for `seed`.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    old_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        corpus_texts = list(corpus_texts)
        tokenizer = train_tokenizer(corpus_texts, vocab_size, model_max_length=max_position)
        torch.manual_seed(seed)
        model = LlamaForCausalLM(llama_config(tokenizer, hidden_size, num_layers, num_heads,
                                              intermediate_size, max_position))
        blocks = pack_corpus(tokenizer, corpus_texts, min(seq_len, max_position))
        losses = pretrain(model, blocks, steps=pretrain_steps, batch_size=batch_size,
                          lr=lr, seed=seed)
    finally:
        torch.set_num_threads(old_threads)
    reinit_chat_tags(model, tokenizer, seed)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    with open(out / "pretrain_loss.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "loss"])
        writer.writerows((i, f"{loss:.6f}") for i, loss in enumerate(losses))
    params = sum(p.numel() for p in model.parameters())
    tokens = pretrain_steps * batch_size * blocks.shape[1]
    return {
        "params": params,
        "pretrain_tokens": tokens,
        "final_loss": losses[-1] if losses else float("nan"),
        "wall_s": round(time.perf_counter() - start, 3),
        "flops_estimate": 6 * params * tokens,
    }
