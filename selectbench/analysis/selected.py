"""What was selected (no fine-tuning needed): source composition, response lengths,
overlap between methods and labelled rate of every selection (2503.01807 Figs. 6–7;
2410.09335 on IFD's short picks).

The pool is read as Arrow columns (id, source, label columns; the messages column only
when lengths are computed here, one record batch at a time); a selection becomes an
integer index into those columns.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..errors import DataError
from ..io import atomic_path, atomic_write_text, reads_parquet
from ..pools.load import iter_batches

CORE = ("id", "source", "messages", "origin")
SEL_KEYS = ["pool", "method", "budget", "seed"]
QUANTILES = (0.0, 0.05, 0.25, 0.5, 0.75, 0.95, 1.0)
UNLABELLED = {"", "none", "false", "0", "null", "nan"}
TOKEN_REGEX = r"\w+|[^\w\s]"     # the approximate tokens of selectbench.pools.stats


@reads_parquet("path", "pool")
def read_pool_columns(path, columns=None) -> pa.Table:
    """id, source and (by default) every label column of a normalized pool, as Arrow."""
    schema = pq.read_schema(path)
    names = schema.names
    for c in ("id", "source"):
        if c not in names:
            raise DataError(path, None, c, "no such column (not a normalized pool)")
    if columns is None:
        columns = ["id", "source"] + [c for c in names if c not in CORE]
    missing = [c for c in columns if c not in names]
    if missing:
        raise DataError(path, None, missing[0], "no such column")
    return pq.read_table(path, columns=list(columns))


@reads_parquet("path", "pool")
def response_lengths(path, batch_rows: int = 65536) -> np.ndarray:
    """Approximate response tokens per row (assistant turns; matches of `\\w+|[^\\w\\s]`,
    RE2's ASCII `\\w`, so close to but not exactly `pools.stats`), computed
    column-wise one record batch at a time (memory bounded by the batch, not the pool)."""
    out = []
    pf = pq.ParquetFile(path)
    if "messages" not in pf.schema_arrow.names:
        raise DataError(path, None, "messages", "no such column")
    for batch in iter_batches(pf, batch_rows, ["messages"]):
        msgs = batch.column(0)
        flat = pc.list_flatten(msgs)
        parent = pc.list_parent_indices(msgs).to_numpy()
        role = pc.struct_field(flat, "role")
        content = pc.struct_field(flat, "content")
        n = pc.count_substring_regex(content, TOKEN_REGEX).to_numpy(zero_copy_only=False)
        n = np.where(pc.equal(role, "assistant").to_numpy(zero_copy_only=False), n, 0)
        out.append(np.bincount(parent, weights=n, minlength=len(batch)).astype(np.int64))
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


@reads_parquet("path", "score file")
def length_from_scores(path, ids: pd.Index) -> np.ndarray:
    """Response tokens per pool row from a `length` score file (the scorer model's tokenizer)."""
    t = pq.read_table(path, columns=["id", "score"])
    got = pd.Index(t.column("id").to_pandas().astype(str))
    pos = got.get_indexer(ids)
    if (pos < 0).any():
        raise DataError(path, None, "id", f"no score for pool id '{ids[int(np.flatnonzero(pos < 0)[0])]}'")
    return t.column("score").to_numpy(zero_copy_only=False)[pos]


def selection_positions(path, ids: pd.Index) -> np.ndarray:
    with open(path) as fh:
        sel = json.load(fh)
    if "ids" not in sel:
        raise DataError(path, None, "ids", "missing (not a selection file)")
    pos = ids.get_indexer(pd.Index([str(i) for i in sel["ids"]]))
    if (pos < 0).any():
        raise DataError(path, None, "ids", f"selected id '{sel['ids'][int(np.flatnonzero(pos < 0)[0])]}' is not in the pool")
    return pos


def _labelled(values: pa.ChunkedArray) -> np.ndarray:
    s = pd.Series(values.to_pandas())
    return ~(s.isna() | s.astype(str).str.strip().str.lower().isin(UNLABELLED)).to_numpy()


def _pool_view(spec: dict, need_lengths: bool = False) -> dict:
    table = read_pool_columns(spec["path"])
    ids = pd.Index(table.column("id").to_pandas().astype(str))
    if not ids.is_unique:
        raise DataError(spec["path"], None, "id", "ids are not unique")
    view = {"ids": ids, "source": table.column("source").to_pandas().astype(str).to_numpy(),
            "labels": {c: _labelled(table.column(c)) for c in table.column_names if c not in CORE}}
    if need_lengths:
        if spec.get("length_scores"):
            view["length"] = length_from_scores(spec["length_scores"], ids)
            view["length_from"] = f"response tokens ({spec['length_scores']})"
        else:
            view["length"] = response_lengths(spec["path"])
            view["length_from"] = "approximate response tokens (pool text)"
    return view


def _each(selections, pools, need_lengths=False):
    """(pool, view, [(key, positions)]) per pool."""
    for pool, spec in pools.items():
        view = _pool_view(spec, need_lengths)
        sels = []
        for s in [s for s in selections if s["pool"] == pool]:
            key = dict(pool=pool, method=s["method"], budget=str(s["budget"]), seed=str(s["seed"]))
            sels.append((key, selection_positions(s["path"], view["ids"])))
        yield pool, view, sels


def composition(selections: list[dict], pools: dict, baseline: str | None = "random") -> pd.DataFrame:
    """Share of each source among the selected rows, beside the pool's share and the baseline's
    (mean over its seeds at the same budget)."""
    rows = []
    for pool, view, sels in _each(selections, pools):
        source = view["source"]
        pool_share = pd.Series(source).value_counts(normalize=True)
        for key, pos in sels:
            counts = pd.Series(source[pos]).value_counts()
            for src in sorted(pool_share.index):
                n = int(counts.get(src, 0))
                rows.append(dict(key, source=src, n_selected=n, share=n / len(pos) if len(pos) else np.nan,
                                 pool_share=float(pool_share[src])))
    comp = pd.DataFrame(rows, columns=SEL_KEYS + ["source", "n_selected", "share", "pool_share"])
    comp["share_minus_pool"] = comp["share"] - comp["pool_share"]
    if baseline is not None:
        base = comp[comp["method"] == baseline].groupby(["pool", "budget", "source"])["share"].mean().rename(
            "baseline_share").reset_index()
        comp = comp.merge(base, on=["pool", "budget", "source"], how="left")
        comp.insert(comp.columns.get_loc("baseline_share"), "baseline", baseline)
        comp["share_minus_baseline"] = comp["share"] - comp["baseline_share"]
    return comp


def lengths(selections: list[dict], pools: dict) -> pd.DataFrame:
    """Response-length distribution (mean, quantiles) of each selection and of the pool."""
    rows = []
    for pool, view, sels in _each(selections, pools, need_lengths=True):
        rows.append(_length_row(dict(pool=pool, method="(pool)", budget="all", seed=""), view["length"],
                                view["length_from"]))
        for key, pos in sels:
            rows.append(_length_row(key, view["length"][pos], view["length_from"]))
    return pd.DataFrame(rows)


def overlap(selections: list[dict], pools: dict) -> pd.DataFrame:
    """Jaccard overlap |A∩B| / |A∪B| of every pair of methods at the same pool, budget and seed."""
    rows = []
    for pool, view, sels in _each(selections, pools):
        sets = {(k["method"], k["budget"], k["seed"]): pos for k, pos in sels}
        for (ma, b, sd), pa_ in sorted(sets.items()):
            for (mb, b2, sd2), pb in sorted(sets.items()):
                if b2 != b or sd2 != sd or mb <= ma:
                    continue
                inter = len(np.intersect1d(pa_, pb))
                union = len(pa_) + len(pb) - inter
                rows.append(dict(pool=pool, budget=b, seed=sd, method_a=ma, method_b=mb, n_a=len(pa_), n_b=len(pb),
                                 intersection=inter, jaccard=inter / union if union else np.nan))
    return pd.DataFrame(rows, columns=["pool", "budget", "seed", "method_a", "method_b", "n_a", "n_b",
                                       "intersection", "jaccard"])


def labels(selections: list[dict], pools: dict, baseline: str | None = "random") -> pd.DataFrame:
    """Per label column of the pool (e.g. the demo's `defect`): rate of labelled rows (value not
    empty/none/false/0) in each selection, beside the pool's and the baseline's rate."""
    rows = []
    for pool, view, sels in _each(selections, pools):
        for c, lab in view["labels"].items():
            rows.append(dict(pool=pool, method="(pool)", budget="all", seed="", label=c, n=len(lab),
                             labelled=int(lab.sum()), labelled_rate=float(lab.mean()) if len(lab) else np.nan))
            for key, pos in sels:
                rows.append(dict(key, label=c, n=len(pos), labelled=int(lab[pos].sum()),
                                 labelled_rate=float(lab[pos].mean()) if len(pos) else np.nan))
    labs = pd.DataFrame(rows, columns=SEL_KEYS + ["label", "n", "labelled", "labelled_rate"])
    pool_lab = labs[labs["method"] == "(pool)"][["pool", "label", "labelled_rate"]].rename(
        columns={"labelled_rate": "pool_labelled_rate"})
    labs = labs.merge(pool_lab, on=["pool", "label"], how="left")
    if baseline is not None:
        lb = labs[labs["method"] == baseline].groupby(["pool", "budget", "label"])["labelled_rate"].mean().rename(
            "baseline_labelled_rate").reset_index()
        labs = labs.merge(lb, on=["pool", "budget", "label"], how="left")
    return labs


def _length_row(key: dict, length: np.ndarray, length_from: str) -> dict:
    q = np.quantile(length, QUANTILES) if len(length) else [np.nan] * len(QUANTILES)
    return dict(key, n=len(length), mean=float(np.mean(length)) if len(length) else np.nan,
                **{f"q{x:g}": float(v) for x, v in zip(QUANTILES, q)}, length_from=length_from)


def plot_composition(comp: pd.DataFrame, out_path) -> None:
    """Stacked bars of source shares: the pool, then each method and budget (mean over seeds)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pools = sorted(set(comp["pool"])) or [""]
    fig, axes = plt.subplots(1, len(pools), figsize=(max(6, 0.5 * comp[["method", "budget"]].drop_duplicates().shape[0] + 3) * len(pools), 4.5),
                             squeeze=False)
    for ax, pool in zip(axes[0], pools):
        d = comp[comp["pool"] == pool]
        mean = d.groupby(["method", "budget", "source"])["share"].mean().unstack("source").fillna(0.0)
        base = set(d["baseline"].dropna()) if "baseline" in d else set()
        mean = mean.iloc[sorted(range(len(mean)), key=lambda i: (mean.index[i][0] not in base, i))]  # baseline first
        first = d.drop_duplicates("source").set_index("source")["pool_share"]
        mean = pd.concat([pd.DataFrame([first.reindex(mean.columns).fillna(0.0).to_numpy()], columns=mean.columns,
                                       index=pd.MultiIndex.from_tuples([("(pool)", "all")])), mean])
        bottom = np.zeros(len(mean))
        labels = [f"{m} {b}" for m, b in mean.index]
        for src in mean.columns:
            ax.bar(labels, mean[src].to_numpy(), bottom=bottom, label=src)
            bottom += mean[src].to_numpy()
        ax.set_ylabel("share of selected rows")
        ax.set_title(f"source composition — pool {pool}")
        ax.tick_params(axis="x", rotation=60, labelsize=7)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    with atomic_path(out_path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


ANALYSES = {"composition": composition, "lengths": lengths, "overlap": overlap, "labels": labels}


def write_selected(what: str, selections: list[dict], pools: dict, baseline, out_path) -> pd.DataFrame:
    """One analysis (`composition`, `lengths`, `overlap`, `labels`) → one CSV."""
    if what not in ANALYSES:
        raise ValueError(f"unknown analysis '{what}'; one of {', '.join(ANALYSES)}")
    fn = ANALYSES[what]
    df = fn(selections, pools, baseline) if what in ("composition", "labels") else fn(selections, pools)
    atomic_write_text(df.to_csv(index=False), out_path)
    return df


def write_composition_figure(composition_csv, out_path) -> None:
    plot_composition(pd.read_csv(composition_csv, dtype={"budget": str, "seed": str}), out_path)
