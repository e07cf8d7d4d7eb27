"""Derived pools: a seeded subsample, a source filter or a mixture of normalized pools.

    pools:
      tulu_200k: {rows: 200000, derive: {from: tulu_unfiltered, subsample: 200000, seed: 0}}
      code_only: {rows: 41000, derive: {from: tulu_unfiltered, sources: [code_alpaca]}}
      mix:       {rows: 30000, derive: {from: [alpaca, dolly], subsample: {alpaca: 20000, dolly: 10000}, seed: 1}}

Rows are chosen from the parents' row counts and, when a rule reads sources, their
`source` column read dictionary-encoded (4 bytes per row); a mixture also checks that
no id is in two parents through 8-byte id hashes. The chosen rows are then copied
batch by batch (`iter_batches`) into the derived pool, so memory is bounded by a
batch plus a few bytes per row, never by the pool's text. Parents are concatenated in the order given; the derived pool keeps
their row order (a subsample is a sorted random subset). `subsample` as a number
draws that many rows uniformly (numpy PCG64 seeded by `seed`) from the rows that
pass `sources`; as a mapping source → count (a source name of the parents'
`source` column, or a parent pool's name when the parents differ in sources) it
draws that many from each (the mixture). The stats file is accumulated batch by
batch and equals `pool_stats` of the written table (tested).
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError, DataError
from ..io import atomic_paths, parquet_input
from .load import iter_batches
from .stats import CORE_COLUMNS, StatsAccumulator

BATCH_ROWS = 8192


def parents_of(spec: dict) -> list[str]:
    src = spec["from"]
    return [src] if isinstance(src, str) else list(src)


def choose_rows(sizes: list[int], codes: np.ndarray | None, names: list[str], parent_names: list[str],
                spec: dict, where: str = "derive") -> list[np.ndarray]:
    """Per parent, the sorted row positions the derived pool keeps.

    `sizes`: rows per parent; `codes`: int32 source code per row of the concatenated parents
    (None when no rule reads sources) with `names` the source name of each code.
    """
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    total = int(offsets[-1])
    parent = np.repeat(np.arange(len(sizes)), sizes)
    keep = np.ones(total, dtype=bool)
    present = set(names)
    wanted = spec.get("sources")
    if wanted is not None:
        missing = [s for s in wanted if s not in present]
        if missing:
            raise ConfigError(f"{where}.sources: no row has source '{missing[0]}' "
                              f"(sources there: {', '.join(sorted(present)) or '(none)'})")
        keep &= np.isin(codes, [names.index(s) for s in wanted])
    sub = spec.get("subsample")
    rng = np.random.default_rng(int(spec.get("seed", 0)))
    if sub is None:
        chosen = np.flatnonzero(keep)
    elif isinstance(sub, dict):
        parts = []
        by_parent = not any(k in present for k in sub) and set(sub) <= set(parent_names)
        for key in sorted(sub):
            if by_parent:
                group = np.flatnonzero(keep & (parent == parent_names.index(key)))
            elif key in present:
                group = np.flatnonzero(keep & (codes == names.index(key)))
            else:
                group = np.array([], dtype=np.int64)
            count = int(sub[key])
            if count > len(group):
                raise ConfigError(f"{where}.subsample.{key}: {count} rows asked, {len(group)} available")
            parts.append(np.sort(rng.choice(group, size=count, replace=False)))
        chosen = np.sort(np.concatenate(parts)) if parts else np.array([], dtype=np.int64)
    else:
        eligible = np.flatnonzero(keep)
        if int(sub) > len(eligible):
            raise ConfigError(f"{where}.subsample: {int(sub)} rows asked, {len(eligible)} available")
        chosen = np.sort(rng.choice(eligible, size=int(sub), replace=False))
    return [chosen[(chosen >= offsets[k]) & (chosen < offsets[k + 1])] - offsets[k] for k in range(len(sizes))]


def source_codes(paths) -> tuple[np.ndarray, list[str]]:
    """The `source` column of the parents as int32 codes into one name list (dictionary-encoded
    reads: bytes per row, not a Python string per row)."""
    names: list[str] = []
    parts = []
    for path in paths:
        with parquet_input(path, "parent pool"):
            col = pq.read_table(path, columns=["source"], read_dictionary=["source"]).column("source")
        for chunk in col.chunks:
            local = [names.index(v) if v in names else (names.append(v) or len(names) - 1)
                     for v in chunk.dictionary.to_pylist()]
            idx = chunk.indices.to_numpy(zero_copy_only=False)
            parts.append(np.asarray(local, dtype=np.int32)[idx] if len(local) else idx.astype(np.int32))
    return (np.concatenate(parts) if parts else np.array([], dtype=np.int32)), names


def check_distinct_ids(parents: list[tuple[str, str]], name: str, batch_rows: int = BATCH_ROWS) -> None:
    """No id in two parents: 8-byte hashes of every id (not the strings), then the candidates
    whose hash repeats are compared as strings."""
    hashes = []
    for _, path in parents:
        with parquet_input(path, "parent pool"):
            for batch in iter_batches(pq.ParquetFile(path), batch_rows, ["id"]):
                hashes.append(np.fromiter((hash(v) for v in batch.column(0).to_pylist()), dtype=np.int64))
    h = np.concatenate(hashes) if hashes else np.array([], dtype=np.int64)
    srt = np.sort(h)
    repeated = set(srt[1:][srt[1:] == srt[:-1]].tolist())
    del h, srt
    if not repeated:
        return
    seen: dict = {}
    for pname, path in parents:
        for batch in iter_batches(pq.ParquetFile(path), batch_rows, ["id"]):
            for v in batch.column(0).to_pylist():
                if hash(v) in repeated:
                    if v in seen:
                        raise DataError(path, None, "id", f"id '{v}' occurs in more than one parent pool of "
                                                          f"'{name}' ('{seen[v]}' and '{pname}')")
                    seen[v] = pname


def derive_pool(parents: list[tuple[str, str]], spec: dict, rows: int, out_pool, out_stats,
                name: str = "derived", batch_rows: int = BATCH_ROWS) -> dict:
    """Write the derived pool (Parquet) and its stats (JSON) atomically; return the stats.

    `parents`: (pool name, pool.parquet path) in the order of `spec['from']`; `rows`: the
    declared row count of the derived pool (checked before anything is written).
    """
    where = f"pools.{name}.derive"
    files = []
    for _, p in parents:
        with parquet_input(p, "parent pool"):
            files.append(pq.ParquetFile(p))
    schema = files[0].schema_arrow
    for (pname, path), f in zip(parents, files):
        missing = [c for c in CORE_COLUMNS if c not in f.schema_arrow.names]
        if missing:
            raise DataError(path, None, missing[0], "not a normalized pool: missing column")
        if not f.schema_arrow.equals(schema):
            raise DataError(path, None, None, f"pool '{pname}' has columns {f.schema_arrow.names}, "
                                              f"pool '{parents[0][0]}' {schema.names}: a mixture needs equal schemas")
    sizes = [f.metadata.num_rows for f in files]
    if len(parents) > 1:                                  # a mixture: ids must be distinct across parents
        check_distinct_ids(parents, name, batch_rows)
    needs_sources = spec.get("sources") is not None or isinstance(spec.get("subsample"), dict)
    codes, names = source_codes([p for _, p in parents]) if needs_sources else (None, [])
    keep = choose_rows(sizes, codes, names, [p for p, _ in parents], spec, where)
    total = int(sum(len(k) for k in keep))
    if total != rows:
        raise ConfigError(f"pools.{name}.rows: declared {rows}, the derivation gives {total} rows")
    labels = [c for c in schema.names if c not in CORE_COLUMNS]
    acc = StatsAccumulator(labels)
    with atomic_paths(out_pool, out_stats) as temps:
        with pq.ParquetWriter(temps[0], schema) as writer:
            for f, rows_k in zip(files, keep):
                start = 0
                for batch in iter_batches(f, batch_rows):
                    end = start + batch.num_rows
                    lo, hi = np.searchsorted(rows_k, [start, end])
                    if hi > lo:
                        part = batch.take(pa.array(rows_k[lo:hi] - start))
                        writer.write_batch(part)
                        cols = {c: part.column(c).to_pylist() for c in part.schema.names}
                        acc.update(cols["id"], cols["source"], cols["messages"], {c: cols[c] for c in labels})
                    start = end
        stats = acc.result()
        temps[1].write_text(json.dumps(stats, sort_keys=True, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return stats

