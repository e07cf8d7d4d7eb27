"""One chat format for training, scoring and the demo benchmarks.

selectbench renders a conversation in the Tulu format used by the seed papers'
code (open-instruct, LESS, RDS+) for base models::

    <|system|>\n{content}\n<|user|>\n{content}\n<|assistant|>\n{content}{eos}\n

Every assistant turn (content + EOS) carries the loss; everything else is
context. Loss positions come from the fast tokenizer's character offsets over
the *whole* rendered string, so the tokens trained on are exactly the tokens
that lm-eval sees when it tokenizes the same text.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain, islice

import numpy as np

ROLES = ("system", "user", "assistant")
ROLE_TAGS = {r: f"<|{r}|>\n" for r in ROLES}
SPECIAL_TOKENS = tuple(f"<|{r}|>" for r in ROLES)


@dataclass(frozen=True)
class Rendered:
    text: str
    # [start, end) character spans whose tokens carry the loss (assistant turns)
    loss_spans: tuple[tuple[int, int], ...]


def render(messages, eos_token: str) -> Rendered:
    """Render `messages` (list of {role, content}) to text and assistant spans."""
    parts: list[str] = []
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in messages:
        tag = ROLE_TAGS[m["role"]]
        parts.append(tag)
        pos += len(tag)
        body = m["content"] + (eos_token if m["role"] == "assistant" else "")
        if m["role"] == "assistant":
            spans.append((pos, pos + len(body)))
        parts.append(body + "\n")
        pos += len(body) + 1
    return Rendered("".join(parts), tuple(spans))


def prompt_for(messages) -> str:
    """The generation prompt for a conversation whose next turn is the assistant's."""
    return render(messages, eos_token="").text + ROLE_TAGS["assistant"]


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    loss_mask: list[int]  # 1 where the token is a target (assistant content/EOS)

    @property
    def n_response(self) -> int:
        return sum(self.loss_mask)


def encode(tokenizer, messages, max_length: int | None = None) -> Encoded:
    """Tokenize a conversation; mark tokens that start inside an assistant span.

    Truncation is from the right at `max_length` tokens (the prompt is kept).
    """
    eos = tokenizer.eos_token or ""
    r = render(messages, eos)
    enc = tokenizer(r.text, add_special_tokens=True, return_offsets_mapping=True)
    ids = list(enc["input_ids"])
    mask = []
    for (start, end) in enc["offset_mapping"]:
        inside = end > start and any(s <= start < e for s, e in r.loss_spans)
        mask.append(1 if inside else 0)
    if max_length is not None and len(ids) > max_length:
        ids, mask = ids[:max_length], mask[:max_length]
    return Encoded(ids, mask)


ENCODE_CHUNK = 1024


@dataclass(frozen=True)
class EncodedChunk:
    """Many tokenized conversations as flat NumPy arrays (no per-row Python lists).

    Row i's tokens are ``ids[offsets[i]:offsets[i+1]]``; ``mask`` marks loss tokens.
    """

    ids: "np.ndarray"       # int64 [total tokens]
    mask: "np.ndarray"      # bool  [total tokens]
    offsets: "np.ndarray"   # int64 [rows + 1]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> "np.ndarray":
        return np.diff(self.offsets)

    @property
    def n_response(self) -> "np.ndarray":
        """Loss tokens per row (int64)."""
        counts = np.add.reduceat(self.mask.astype(np.int64), self.offsets[:-1]) if self.mask.size else None
        out = np.zeros(len(self), dtype=np.int64)
        if counts is not None:
            nonempty = self.lengths > 0
            out[nonempty] = counts[nonempty]
        return out

    def row(self, i: int) -> Encoded:
        a, b = self.offsets[i], self.offsets[i + 1]
        return Encoded(self.ids[a:b].tolist(), self.mask[a:b].astype(np.int64).tolist())

    def rows(self) -> list[Encoded]:
        return [self.row(i) for i in range(len(self))]


def _tokenize_chunk(tokenizer, conversations, with_ids: bool):
    """(rendered, lengths, token ids or None, char offsets [tokens, 2]) of a chunk, one tokenizer call."""
    eos = tokenizer.eos_token or ""
    rendered = [render(m, eos) for m in conversations]
    n = len(rendered)
    texts = [r.text for r in rendered]
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:   # the Rust tokenizer itself: what tokenizer(...) calls, minus Python copies
        encs = backend.encode_batch(texts, add_special_tokens=True)
        lengths = np.fromiter((len(e) for e in encs), dtype=np.int64, count=n)
        total = int(lengths.sum())
        ids = (np.fromiter(chain.from_iterable(e.ids for e in encs), dtype=np.int64, count=total)
               if with_ids else None)
        chars = np.fromiter(chain.from_iterable(chain.from_iterable(e.offsets for e in encs)),
                            dtype=np.int64, count=2 * total).reshape(-1, 2)
        del encs
    else:
        enc = tokenizer(texts, add_special_tokens=True, return_offsets_mapping=True)
        lengths = np.fromiter((len(x) for x in enc["input_ids"]), dtype=np.int64, count=n)
        total = int(lengths.sum())
        ids = (np.fromiter(chain.from_iterable(enc["input_ids"]), dtype=np.int64, count=total)
               if with_ids else None)
        chars = np.fromiter(chain.from_iterable(chain.from_iterable(enc["offset_mapping"])),
                            dtype=np.int64, count=2 * total).reshape(-1, 2)
    return rendered, lengths, ids, chars


def _loss_mask(rendered, lengths, chars) -> tuple["np.ndarray", "np.ndarray"]:
    """(loss mask, row of each token): a token is a loss token when its (non-empty) start lies
    inside an assistant span.

    Every rendered text is placed at a global character offset, the assistant spans become
    sorted global intervals, and each token's start is looked up among them (binary search).
    """
    n = len(rendered)
    base = np.zeros(n, dtype=np.int64)
    np.cumsum([len(r.text) + 1 for r in rendered[:-1]], out=base[1:])
    span_start = np.fromiter((base[i] + s for i, r in enumerate(rendered) for s, _ in r.loss_spans), dtype=np.int64)
    span_end = np.fromiter((base[i] + e for i, r in enumerate(rendered) for _, e in r.loss_spans), dtype=np.int64)
    row = np.repeat(np.arange(n), lengths)
    start = chars[:, 0] + base[row]
    k = np.searchsorted(span_start, start, side="right") - 1
    mask = (chars[:, 1] > chars[:, 0]) & (k >= 0)
    mask &= start < span_end[np.maximum(k, 0)] if span_end.size else False
    return mask, row


def encode_chunk(tokenizer, conversations, max_length: int | None = None) -> EncodedChunk:
    """Tokenize a chunk of conversations at once; the same tokens and mask as `encode`.

    One fast-tokenizer call for the chunk; the loss mask is computed for all
    tokens at once (`_loss_mask`).
    """
    if len(conversations) == 0:
        return EncodedChunk(np.zeros(0, np.int64), np.zeros(0, bool), np.zeros(1, np.int64))
    rendered, lengths, ids, chars = _tokenize_chunk(tokenizer, conversations, with_ids=True)
    mask, row = _loss_mask(rendered, lengths, chars)
    offsets = np.zeros(len(rendered) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    if max_length is not None and (lengths > max_length).any():
        keep = (np.arange(len(ids)) - offsets[row]) < max_length
        ids, mask = ids[keep], mask[keep]
        lengths = np.minimum(lengths, max_length)
        offsets[1:] = np.cumsum(lengths)
    return EncodedChunk(ids, mask, offsets)


def token_counts(tokenizer, conversations, max_length: int | None = None) -> tuple["np.ndarray", "np.ndarray"]:
    """(total tokens, loss tokens) per conversation: `encode_chunk`'s lengths and
    `n_response` without materialising the token ids (what the `length` scorer needs)."""
    if len(conversations) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    rendered, lengths, _, chars = _tokenize_chunk(tokenizer, conversations, with_ids=False)
    mask, row = _loss_mask(rendered, lengths, chars)
    if max_length is not None:
        first = np.cumsum(lengths) - lengths
        mask &= (np.arange(len(mask)) - first[row]) < max_length
        lengths = np.minimum(lengths, max_length)
    return lengths, np.bincount(row[mask], minlength=len(lengths)).astype(np.int64)


def encode_chunks(tokenizer, conversations, max_length: int | None = None, chunk: int = ENCODE_CHUNK):
    """Yield `EncodedChunk`s of `chunk` conversations (memory bounded by a chunk)."""
    conversations = iter(conversations)
    while True:
        part = list(islice(conversations, chunk))
        if not part:
            return
        yield encode_chunk(tokenizer, part, max_length)


def encode_many(tokenizer, conversations, max_length: int | None = None) -> list[Encoded]:
    """Batch version of `encode`: tokenized in chunks of ENCODE_CHUNK, vectorized loss masks."""
    return [e for c in encode_chunks(tokenizer, conversations, max_length) for e in c.rows()]
