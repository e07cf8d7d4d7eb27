"""`zip`: ZIP, the entropy-law selector of Yin et al. 2024 — greedy low compression ratio.

The compression ratio of an ordered set of examples S is

    R(S) = |bytes(S)| / |zlib_9(bytes(S))|      (higher = more redundant)

where bytes(S) concatenates the UTF-8 rendered conversations (`formatting.render`,
no EOS; each ends in a newline). ZIP prefers low R: dense, non-redundant data.
With D' the selected list (in selection order) and π a per-example state
initialised to π(x) = R([x]), every round does:

1. global:  C1 = the K1 unselected examples with the lowest π;
2. local coarse: π(x) ← R(D' + [x]) for x ∈ C1 (the state is updated in place, a
   lazy estimate for later rounds); C2 = the K2 of C1 with the lowest new π;
3. local fine: K3 greedy picks from C2, each the x minimising R(D' + D3 + [x])
   where D3 holds this round's earlier picks; then D' ← D' + D3.

Rounds repeat until |D'| = budget (the last round picks only what is left). Ties
go to the lower state, then the lower pool index (stage 1), to the earlier
candidate (stages 2 and 3).

`reference_code: true` (the default) follows the authors' ZIP.py, the code behind the
paper's and SFT@scale's ZIP numbers: stage 3 conditions on this round's picks only
(R(D3 + [x]), an empty start), and the K2 − K3 stage-2 candidates not picked in
stage 3 leave the pool for good. `reference_code: false` is selectbench's variant:
stage 3 conditions on the whole selection (R(D' + D3 + [x])) and unpicked stage-2
candidates stay in the pool. In both modes stage 1 only ever sees rows still in the
pool (ZIP.py re-admits picked/dropped rows once K1 exceeds what is left, because it
marks them with a large state instead of removing them; a selection here never
repeats a row).

R(D' + [x]) is computed with a zlib compressor that has already consumed bytes(D')
and is copied per candidate: deflate output does not depend on how the input is
split, so the sizes equal one-shot `zlib.compress(..., 9)` of the concatenation.
"""

from __future__ import annotations

import zlib

import numpy as np

from ..errors import SelectbenchError
from ..formatting import render
from .base import SelectContext, selector

LEVEL = 9


def sample_bytes(messages) -> bytes:
    """What ZIP compresses for one example: the rendered conversation (no EOS) as UTF-8."""
    return render(messages, eos_token="").text.encode("utf-8")


def ratio(data: bytes) -> float:
    return len(data) / len(zlib.compress(data, LEVEL))


class _Prefix:
    """A zlib stream that has consumed a prefix; `ratio_with(x)` = R(prefix + x)."""

    def __init__(self):
        self.comp = zlib.compressobj(LEVEL)
        self.raw = 0
        self.emitted = 0

    def add(self, data: bytes) -> None:
        self.emitted += len(self.comp.compress(data))
        self.raw += len(data)

    def ratio_with(self, data: bytes) -> float:
        c = self.comp.copy()
        size = self.emitted + len(c.compress(data)) + len(c.flush())
        return (self.raw + len(data)) / size

    def copy(self) -> "_Prefix":
        other = _Prefix.__new__(_Prefix)
        other.comp, other.raw, other.emitted = self.comp.copy(), self.raw, self.emitted
        return other


def zip_select(texts: list[bytes], budget: int, k1: int, k2: int, k3: int,
               reference_code: bool = True) -> list[int]:
    """Indices of `texts` in ZIP's selection order (exactly `budget` of them)."""
    n = len(texts)
    if budget > n:
        raise SelectbenchError(f"zip: budget {budget} exceeds the pool ({n} rows)")
    if not (k1 >= k2 >= k3 >= 1):
        raise SelectbenchError(f"zip: need k1 >= k2 >= k3 >= 1 (got k1={k1}, k2={k2}, k3={k3})")
    state = np.array([ratio(t) for t in texts], dtype=np.float64)
    available = np.ones(n, dtype=bool)
    selected: list[int] = []
    base = _Prefix()                                    # has consumed bytes(D')
    while len(selected) < budget:
        avail_idx = np.flatnonzero(available)
        if len(avail_idx) == 0:
            raise SelectbenchError(f"zip: pool exhausted after {len(selected)} of {budget} picks "
                                   "(reference_code drops unpicked stage-2 candidates; lower k2/k3)")
        # stage 1: global — lowest state, ties by pool index
        c1 = avail_idx[np.argsort(state[avail_idx], kind="stable")[:k1]]
        # stage 2: local coarse — ratio with the selected set, state updated
        r2 = np.array([base.ratio_with(texts[i]) for i in c1])
        state[c1] = r2
        c2 = c1[np.argsort(r2, kind="stable")[:k2]]
        # stage 3: local fine — greedy, one pick at a time
        want = min(k3, len(c2), budget - len(selected))
        run = _Prefix() if reference_code else base.copy()
        cand = list(c2)
        picks: list[int] = []
        for _ in range(want):
            r3 = [run.ratio_with(texts[i]) for i in cand]
            j = int(np.argmin(r3))                      # first minimum: earliest candidate
            pick = cand.pop(j)
            picks.append(int(pick))
            run.add(texts[pick])
        for i in picks:
            base.add(texts[i])
        selected.extend(picks)
        available[picks] = False
        if reference_code:
            available[c2] = False
    return selected


@selector("zip", needs_scores=False, params={"k1": 10000, "k2": 200, "k3": 100, "reference_code": True},
          pool_columns=("id", "messages"))
def zip_selector(ctx: SelectContext) -> list[str]:
    """Greedy three-stage selection of the examples that keep the zlib compression ratio lowest."""
    p = ctx.params
    texts = [sample_bytes(m) for m in ctx.pool["messages"]]
    n = len(texts)
    k1 = min(int(p.get("k1", 10000)), n)
    k2 = min(int(p.get("k2", 200)), k1)
    k3 = min(int(p.get("k3", 100)), k2)
    idx = zip_select(texts, ctx.budget, k1, k2, k3, bool(p.get("reference_code", True)))
    return ctx.pool["id"].iloc[idx].astype(str).tolist()
