"""Load a pool's raw sources and normalize them into one table.

The normalized pool has the columns ``id``, ``source``, ``messages`` (a list of
{role, content}), ``origin`` ("file:row", for audit) and then the pool's label
columns. Rows come in config order of sources, file order within a source.

Every bad input raises `DataError` naming the file, the row and the field:
rows are 1-based line numbers for JSONL, 1-based element indices for JSON
arrays and 1-based row indices for Parquet files and hub datasets. Nothing is
dropped or defaulted silently (blank JSONL lines hold no row and are skipped).
A config that does not match the data raises `ConfigError`.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import ConfigError, DataError
from ..io import atomic_paths, reads_parquet
from .formats import FORMATS, RowError, check_unicode, convert
from .stats import CORE_COLUMNS, StatsAccumulator, pool_stats

log = logging.getLogger(__name__)

MESSAGES_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
FILE_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".json.gz", ".parquet")
SOURCE_KEYS = {
    "name", "path", "hub", "revision", "split", "format",
    "label_columns", "source_field", "id_field",
}


@dataclass(frozen=True)
class Source:
    """One validated entry of a pool's `sources`."""

    name: str
    fmt: str
    where: str  # the file (resolved) or hub dataset that errors name
    cited: str  # how `origin` cites it: the path as configured, or the hub reference
    path: Path | None = None
    hub: str | None = None
    revision: str | None = None
    split: str | None = None
    label_columns: tuple[str, ...] = ()
    source_field: str | None = None
    id_field: str | None = None


# --------------------------------------------------------------------------- config


def _optional_str(cfg: dict, key: str, what: str) -> str | None:
    value = cfg.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"{what}: '{key}' must be a non-empty string, got {value!r}")
    return value


def parse_source(pool_name: str, index: int, cfg, base_dir: Path) -> Source:
    """Validate source number `index` (0-based) of pool `pool_name`."""
    what = f"pool '{pool_name}' source {index + 1}"
    if not isinstance(cfg, dict):
        raise ConfigError(f"{what}: expected a mapping, got {cfg!r}")
    unknown = sorted(set(cfg) - SOURCE_KEYS)
    if unknown:
        raise ConfigError(f"{what}: unknown keys {unknown}; known: {sorted(SOURCE_KEYS)}")
    name = _optional_str(cfg, "name", what)
    if name is None:
        raise ConfigError(f"{what}: missing 'name'")
    what = f"pool '{pool_name}' source '{name}'"
    fmt = cfg.get("format")
    if fmt not in FORMATS:
        raise ConfigError(f"{what}: 'format' must be one of {', '.join(FORMATS)}, got {fmt!r}")
    labels = cfg.get("label_columns") or []
    if not isinstance(labels, list) or not all(isinstance(c, str) and c for c in labels):
        raise ConfigError(f"{what}: 'label_columns' must be a list of column names, got {labels!r}")
    clash = sorted(set(labels) & set(CORE_COLUMNS))
    if clash or len(set(labels)) != len(labels):
        raise ConfigError(f"{what}: 'label_columns' {labels!r} repeat a name or use one of {CORE_COLUMNS}")
    common = dict(
        name=name,
        fmt=fmt,
        label_columns=tuple(labels),
        source_field=_optional_str(cfg, "source_field", what),
        id_field=_optional_str(cfg, "id_field", what),
    )
    path, hub = _optional_str(cfg, "path", what), _optional_str(cfg, "hub", what)
    if (path is None) == (hub is None):
        raise ConfigError(f"{what}: give exactly one of 'path' and 'hub'")
    if path is not None:
        if not path.lower().endswith(FILE_SUFFIXES):
            raise ConfigError(f"{what}: unsupported file type '{path}'; expected one of {FILE_SUFFIXES}")
        resolved = Path(base_dir) / path
        return Source(**common, where=str(resolved), cited=path, path=resolved)
    revision = _optional_str(cfg, "revision", what)
    split = _optional_str(cfg, "split", what)
    if split is None:
        raise ConfigError(f"{what}: a 'hub' source needs a 'split'")
    ref = f"hf:{hub}@{revision or 'default'}[{split}]"
    return Source(**common, where=ref, cited=ref, hub=hub, revision=revision, split=split)


def parse_pool(pool_name: str, pool_cfg, base_dir) -> tuple[list[Source], int]:
    """Validate a pool config; return its sources and expected row count."""
    if not isinstance(pool_cfg, dict):
        raise ConfigError(f"pool '{pool_name}': expected a mapping, got {pool_cfg!r}")
    rows = pool_cfg.get("rows")
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 0:
        raise ConfigError(f"pool '{pool_name}': 'rows' must be a non-negative integer, got {rows!r}")
    raw = pool_cfg.get("sources")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"pool '{pool_name}': 'sources' must be a non-empty list")
    sources = [parse_source(pool_name, i, s, Path(base_dir)) for i, s in enumerate(raw)]
    names = Counter(s.name for s in sources)
    repeated = sorted(n for n, c in names.items() if c > 1)
    if repeated:
        raise ConfigError(f"pool '{pool_name}': source names repeat: {repeated}")
    seen: dict = {}
    for s in sources:
        key = s.path.resolve() if s.path is not None else (s.hub, s.revision, s.split)
        if key in seen:
            raise ConfigError(f"pool '{pool_name}': sources '{seen[key]}' and '{s.name}' read the same "
                              f"{'file' if s.path is not None else 'dataset'} {s.where} (its rows would "
                              "be in the pool twice); list it once")
        seen[key] = s.name
    label_sets = {s.label_columns for s in sources}
    if len(label_sets) > 1:
        raise ConfigError(
            f"pool '{pool_name}': every source must list the same 'label_columns', "
            f"got {sorted(label_sets)}"
        )
    return sources, rows


# --------------------------------------------------------------------------- readers


def _open_bytes(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def read_jsonl(path: Path) -> Iterator[tuple[int, object]]:
    """Yield (1-based line number, parsed value) for each non-blank line."""
    lineno = 0
    try:
        with _open_bytes(path) as fh:
            for lineno, raw in enumerate(fh, 1):
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]  # a UTF-8 byte-order mark (common from Windows tools)
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError as e:
                    message = f"invalid UTF-8 at byte {e.start} of the line: {e.reason}"
                    raise DataError(path, lineno, None, message) from None
                if not text.strip():
                    continue
                try:
                    yield lineno, json.loads(text)
                except json.JSONDecodeError as e:
                    raise DataError(path, lineno, None, f"invalid JSON: {e.msg} (column {e.colno})") from None
    except (OSError, EOFError) as e:
        raise DataError(path, lineno + 1, None, f"cannot read: {e}") from None


def read_json(path: Path) -> Iterator[tuple[int, object]]:
    """Yield (1-based element index, value) of a JSON list or of {"data": [...]}."""
    try:
        with _open_bytes(path) as fh:
            data = fh.read()
    except (OSError, EOFError) as e:
        raise DataError(path, None, None, f"cannot read: {e}") from None
    try:
        text = data.decode("utf-8-sig")  # accepts a UTF-8 byte-order mark
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        message = f"invalid UTF-8 at line {line} (byte {e.start}): {e.reason}"
        raise DataError(path, None, None, message) from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        message = f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        raise DataError(path, None, None, message) from None
    if isinstance(value, dict) and "data" in value:
        value = value["data"]
    if not isinstance(value, list):
        raise DataError(path, None, None, 'expected a JSON list of objects or {"data": [...]}')
    yield from enumerate(value, 1)


def read_parquet(path: Path) -> Iterator[tuple[int, object]]:
    """Yield (1-based row index, row dict) of a Parquet file."""
    try:
        batches = iter_batches(pq.ParquetFile(path), 8192)
        index = 0
        for batch in batches:   # one record batch of Python rows at a time
            for row in batch.to_pylist():
                index += 1
                yield index, row
    except (OSError, pa.ArrowException) as e:
        raise DataError(path, None, None, f"cannot read Parquet: {e}") from None


def read_hub(src: Source) -> Iterator[tuple[int, object]]:
    """Yield (1-based row index, row dict) of `datasets.load_dataset(hub, ...)`."""
    import datasets

    kwargs = {"split": src.split}
    if src.revision is not None:
        kwargs["revision"] = src.revision
    try:
        dataset = datasets.load_dataset(src.hub, **kwargs)
    except Exception as e:  # noqa: BLE001 - any loading failure is reported with the dataset named
        raise DataError(src.where, None, None, f"cannot load dataset: {type(e).__name__}: {e}") from e
    yield from enumerate(dataset, 1)


def read_rows(src: Source) -> Iterator[tuple[int, object]]:
    """Yield (row number, raw row) of a source, row numbers as errors cite them."""
    if src.hub is not None:
        return read_hub(src)
    if not src.path.is_file():
        raise DataError(src.path, None, None, "file not found")
    return read_file_rows(src.path)


def read_file_rows(path: Path) -> Iterator[tuple[int, object]]:
    """(row number, raw row) of a local .jsonl / .json (optionally gzipped) or Parquet file."""
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz")):
        return read_jsonl(path)
    if name.endswith((".json", ".json.gz")):
        return read_json(path)
    return read_parquet(path)


# --------------------------------------------------------------------------- rows


def _row_id(src: Source, index: int, row: dict) -> str:
    """The row's id: `id_field` (a string or integer) or f"{name}-{index}"."""
    if src.id_field is None:
        return f"{src.name}-{index}"
    if src.id_field not in row:
        raise RowError(src.id_field, "missing field")
    value = row[src.id_field]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise RowError(src.id_field, f"expected a string or integer id, got {value!r}")
    if isinstance(value, str) and not value.strip():
        raise RowError(src.id_field, "empty id")
    return check_unicode(str(value), src.id_field)


def _row_source(src: Source, row: dict) -> str:
    """The row's `source`: the `source_field` value, or the source's name."""
    if src.source_field is None:
        return src.name
    if src.source_field not in row:
        raise RowError(src.source_field, "missing field")
    value = row[src.source_field]
    if not isinstance(value, str) or not value.strip():
        raise RowError(src.source_field, f"expected a non-empty string, got {value!r}")
    return check_unicode(value, src.source_field)


def _row_labels(src: Source, row: dict) -> dict:
    missing = [c for c in src.label_columns if c not in row]
    if missing:
        raise RowError(missing[0], "missing label column")
    for c in src.label_columns:
        if isinstance(row[c], str):
            check_unicode(row[c], c)
    return {c: row[c] for c in src.label_columns}


def normalize_row(src: Source, index: int, row) -> list[dict]:
    """Normalized records (without `origin`) of raw row number `index` (0-based)."""
    converted = convert(src.fmt, row)
    row_id, source, labels = _row_id(src, index, row), _row_source(src, row), _row_labels(src, row)
    return [
        {"id": row_id if suffix is None else f"{row_id}-{suffix}", "source": source,
         "messages": msgs, **labels}
        for suffix, msgs in converted
    ]


# C0 controls other than tab, newline and carriage return, and DEL: kept in the pool (they may be
# the data), but a NUL or an escape sequence in a message is worth knowing about
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_WARNINGS = 5   # rows warned about one by one per source; the rest are counted


def _control_field(messages: list[dict]) -> tuple[str, str] | None:
    """(field, character) of the first control character in a conversation's contents."""
    for i, m in enumerate(messages):
        hit = _CONTROL.search(m["content"])
        if hit:
            return f"messages[{i}].content", hit.group()
    return None


def _kind(value) -> str | None:
    """The label type a value stores as: Arrow holds one per column (ints and floats mix)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "mapping"
    return type(value).__name__


class _LabelTypes:
    """Each label column's type across the whole pool, checked per record, so that a value of
    another type is an error naming its file, line and the first value of the column's type."""

    def __init__(self, labels):
        self.labels = list(labels)
        self.first: dict[str, tuple[str, str, object]] = {}

    def check(self, src: Source, rowno: int, record: dict) -> None:
        for c in self.labels:
            value = record[c]
            kind = _kind(value)
            if kind is None:
                continue
            seen = self.first.setdefault(c, (kind, record["origin"], value))
            if seen[0] != kind:
                raise DataError(src.where, rowno, c,
                                f"label is a {kind} ({value!r}) here but a {seen[0]} ({seen[2]!r}) at {seen[1]}; "
                                f"a label column holds one type: write every '{c}' as a {seen[0]}, "
                                "or every one as a string")


def source_records(src: Source, warn: bool = True) -> Iterator[tuple[int, dict]]:
    """Yield (row number, normalized record) for every row of a source.

    A source with no rows (a zero-byte file, blank lines only, an empty list) is a
    DataError: it would otherwise vanish from the pool without a word. `warn`: log
    control characters in contents (False on a second pass over the same source).
    """
    rows = controls = 0
    for index, (rowno, row) in enumerate(read_rows(src)):
        rows += 1
        try:
            records = normalize_row(src, index, row)
        except RowError as e:
            raise DataError(src.where, rowno, e.field, e.message) from None
        for record in records:
            hit = warn and _control_field(record["messages"])
            if hit:
                controls += 1
                if controls <= CONTROL_WARNINGS:
                    log.warning("%s:%s: field '%s': control character %r in the content (kept as is)",
                                src.where, rowno, hit[0], hit[1])
            record["origin"] = f"{src.cited}:{rowno}"
            yield rowno, record
    if controls > CONTROL_WARNINGS:
        log.warning("%s: %d records in all hold control characters (the first %d are named above)",
                    src.where, controls, CONTROL_WARNINGS)
    if rows == 0:
        raise DataError(src.where, None, None, f"source '{src.name}' holds no rows "
                                               "(an empty file, blank lines only, or an empty list)")


def normalize_pool(pool_name: str, pool_cfg: dict, base_dir: str | Path = ".") -> pd.DataFrame:
    """Load every source of a pool and return the normalized pool table.

    Raises DataError on a bad row or an id seen twice in the pool, and
    ConfigError on a bad config or when the row count differs from `rows`.
    """
    sources, expected = parse_pool(pool_name, pool_cfg, base_dir)
    labels = list(sources[0].label_columns)
    columns: dict[str, list] = {c: [] for c in (*CORE_COLUMNS, *labels)}
    first_seen: dict[str, str] = {}
    per_source: Counter[str] = Counter()
    types = _LabelTypes(labels)
    for src in sources:
        for rowno, record in source_records(src):
            per_source[src.name] += 1
            types.check(src, rowno, record)
            previous = first_seen.setdefault(record["id"], record["origin"])
            if previous != record["origin"]:
                raise DataError(
                    src.where, rowno, src.id_field or "id",
                    f"duplicate id '{record['id']}' (first at {previous})",
                )
            for column, values in columns.items():
                values.append(record[column])
    actual = len(columns["id"])
    if actual != expected:
        raise ConfigError(
            f"pool '{pool_name}': config says rows: {expected} but the sources hold {actual} rows "
            f"after normalization ({dict(per_source)}); update 'rows' if the data is right"
        )
    return pd.DataFrame(columns, columns=list(columns))


# --------------------------------------------------------------------------- streaming


CHUNK_ROWS = 20_000


def _chunk_table(columns: dict[str, list], schema: pa.Schema | None, first_row: int) -> pa.Table:
    """One chunk of normalized records as Arrow, in `schema` once the first chunk fixed it."""
    arrays = []
    for i, (column, values) in enumerate(columns.items()):
        if column == "messages":
            arrays.append(pa.array(values, type=MESSAGES_TYPE))
        elif column in CORE_COLUMNS:
            arrays.append(pa.array(values, type=pa.string()))
        else:
            try:
                arr = pa.array(values)
                if schema is not None and arr.type != schema.field(i).type:
                    arr = pa.array(values, type=schema.field(i).type)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as e:
                raise ValueError(f"label column '{column}' cannot be stored in Parquet (pool rows {first_row}"
                                 f"–{first_row + len(values) - 1}): {e}") from None
            arrays.append(arr)
    return pa.Table.from_arrays(arrays, names=list(columns))


def _first_duplicate(sources: list[Source], candidates: set[str]) -> None:
    """Second pass over the sources, only when two id hashes collided: raise at the first repeat."""
    first_seen: dict[str, str] = {}
    for src in sources:
        for rowno, record in source_records(src, warn=False):
            if record["id"] not in candidates:
                continue
            previous = first_seen.setdefault(record["id"], record["origin"])
            if previous != record["origin"]:
                raise DataError(src.where, rowno, src.id_field or "id",
                                f"duplicate id '{record['id']}' (first at {previous})")


def write_normalized_pool(pool_name: str, pool_cfg: dict, parquet_path, stats_path,
                          base_dir: str | Path = ".", chunk_rows: int = CHUNK_ROWS) -> int:
    """Normalize a pool straight to Parquet (row groups of `chunk_rows`) and its stats JSON.

    Same rows, errors and stats as `normalize_pool` + `write_pool`, in memory
    bounded by one chunk plus a few bytes per row: the duplicate-id check keeps
    a 64-bit hash per id (int64 array) and goes back to the sources only when
    two hashes collide; the stats keep three int32 counts per row. Outputs are
    written to temporary files and renamed into place only when every check
    passed. Returns the number of rows.
    """
    sources, expected = parse_pool(pool_name, pool_cfg, base_dir)
    labels = list(sources[0].label_columns)
    names = (*CORE_COLUMNS, *labels)
    parquet_path, stats_path = Path(parquet_path), Path(stats_path)
    for p in (parquet_path, stats_path):
        p.parent.mkdir(parents=True, exist_ok=True)
    acc = StatsAccumulator(labels)
    hashes: list[np.ndarray] = []
    per_source: Counter[str] = Counter()
    writer = None
    with atomic_paths(parquet_path, stats_path) as temps:
        try:
            columns: dict[str, list] = {c: [] for c in names}

            def flush():
                nonlocal writer, columns
                if not columns["id"]:
                    return
                table = _chunk_table(columns, writer.schema if writer else None, acc.rows + 1)
                if writer is None:
                    writer = pq.ParquetWriter(temps[0], table.schema)
                writer.write_table(table, row_group_size=chunk_rows)
                acc.update(columns["id"], columns["source"], columns["messages"], {c: columns[c] for c in labels})
                hashes.append(np.fromiter((hash(i) for i in columns["id"]), dtype=np.int64, count=len(columns["id"])))
                columns = {c: [] for c in names}

            types = _LabelTypes(labels)
            for src in sources:
                for rowno, record in source_records(src):
                    per_source[src.name] += 1
                    types.check(src, rowno, record)
                    for column, values in columns.items():
                        values.append(record[column])
                    if len(columns["id"]) >= chunk_rows:
                        flush()
            flush()
            if writer is None:   # an empty pool still gets a Parquet file with the schema
                writer = pq.ParquetWriter(temps[0], _chunk_table(columns, None, 1).schema)
            writer.close()
            all_hashes = np.sort(np.concatenate(hashes)) if hashes else np.zeros(0, dtype=np.int64)
            collide = all_hashes[1:][all_hashes[1:] == all_hashes[:-1]]
            if collide.size:
                wanted = set(collide.tolist())
                candidates = {r["id"] for src in sources for _, r in source_records(src, warn=False)
                              if hash(r["id"]) in wanted}
                _first_duplicate(sources, candidates)
            del all_hashes
            hashes.clear()
            if acc.rows != expected:
                raise ConfigError(
                    f"pool '{pool_name}': config says rows: {expected} but the sources hold {acc.rows} rows "
                    f"after normalization ({dict(per_source)}); update 'rows' if the data is right"
                )
            temps[1].write_text(json.dumps(acc.result(), sort_keys=True, indent=2, ensure_ascii=False) + "\n",
                                encoding="utf-8")
        except BaseException:
            if writer is not None:
                try:
                    writer.close()
                except Exception:  # noqa: BLE001 - cleaning up after the real error
                    pass
            raise
    return acc.rows


# --------------------------------------------------------------------------- parquet


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """The pool as an Arrow table with a fixed schema for the core columns."""
    missing = [c for c in CORE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"pool table lacks columns {missing}")
    arrays, names = [], []
    for column in df.columns:
        values = list(df[column])
        if column == "messages":
            arrays.append(pa.array(values, type=MESSAGES_TYPE))
        elif column in CORE_COLUMNS:
            arrays.append(pa.array(values, type=pa.string()))
        else:
            try:
                arrays.append(pa.array(values))
            except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
                raise ValueError(f"label column '{column}' cannot be stored in Parquet: {e}") from None
        names.append(column)
    return pa.Table.from_arrays(arrays, names=names)


def _check_pool_schema(path, names) -> None:
    missing = [c for c in CORE_COLUMNS if c not in names]
    if missing:
        raise DataError(path, None, missing[0], "not a normalized pool: missing column")


@reads_parquet("path", "pool")
def read_pool(path, columns=None) -> pd.DataFrame:
    """Read a normalized pool written by `write_pool` (messages as lists of dicts).

    `columns`: read only these (e.g. ["id", "source"] for a selector: bytes per
    row, where `messages` as Python objects costs kilobytes per row). String
    columns come back as Arrow-backed pandas strings; `messages` as Python lists.
    """
    names = pq.ParquetFile(path).schema_arrow.names
    _check_pool_schema(path, names)
    if columns is not None:
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise DataError(path, None, unknown[0], "no such column in the pool")
    table = pq.read_table(path, columns=list(columns) if columns is not None else None)
    return _as_frame(table)


def _as_frame(table: pa.Table) -> pd.DataFrame:
    """Core string columns wrap the Arrow buffers (no copy, no Python object per row);
    `messages` and label columns become Python objects as before."""
    return pd.DataFrame(
        {c: (table.column(c).to_pylist() if c == "messages" or c not in CORE_COLUMNS
             else pd.Series(pd.arrays.ArrowExtensionArray(table.column(c)), copy=False))
         for c in table.column_names},
        columns=table.column_names,
    )


@reads_parquet("path", "pool")
def read_pool_rows(path, ids, columns=None) -> pd.DataFrame:
    """The rows of the pool whose id is in `ids` (pool order), like `read_pool`.

    Row groups are scanned one at a time with an Arrow `is_in` filter, so memory is
    one row group plus the rows kept (fine-tuning reads its selection, not the pool).
    """
    import pyarrow.compute as pc
    import pyarrow.dataset as ds

    names = pq.ParquetFile(path).schema_arrow.names
    _check_pool_schema(path, names)
    wanted = pa.array([str(i) for i in ids], type=pa.string())
    table = ds.dataset(str(path), format="parquet").to_table(
        columns=list(columns) if columns is not None else None, filter=pc.field("id").isin(wanted))
    return _as_frame(table)


def iter_batches(pf: "pq.ParquetFile", batch_rows: int, columns=None):
    """`pf.iter_batches`, one row group at a time (batches of at most `batch_rows`).

    A single `ParquetFile.iter_batches` over the whole file keeps Arrow buffers of the nested
    `messages` column alive for as long as it runs (pyarrow 2x: measured ~460 B per row read,
    2.6 GB over a 5.8M-row pool); a fresh iterator per row group frees them, so memory is
    bounded by one row group (20,000 rows in a normalized pool).
    """
    cols = list(columns) if columns is not None else None
    for i in range(pf.num_row_groups):
        yield from pf.iter_batches(batch_size=batch_rows, row_groups=[i], columns=cols)


@reads_parquet("path", "pool")
def iter_pool(path, columns=("id", "messages"), chunk_rows: int = CHUNK_ROWS):
    """Yield the pool in record batches of at most `chunk_rows` (Arrow), reading only `columns`."""
    pf = pq.ParquetFile(path)
    _check_pool_schema(path, pf.schema_arrow.names)
    yield from iter_batches(pf, chunk_rows, columns)


@reads_parquet("path", "pool")
def pool_num_rows(path) -> int:
    """The pool's row count, from the Parquet footer (reads no rows)."""
    pf = pq.ParquetFile(path)
    _check_pool_schema(path, pf.schema_arrow.names)
    return pf.metadata.num_rows


@reads_parquet("path", "pool")
def pool_ids(path) -> pa.Array:
    """The pool's id column as one Arrow string array (bytes per row)."""
    pf = pq.ParquetFile(path)
    _check_pool_schema(path, pf.schema_arrow.names)
    return pq.read_table(path, columns=["id"]).column("id").combine_chunks()


def write_pool(df: pd.DataFrame, parquet_path, stats_path) -> None:
    """Write the pool as Parquet and its `pool_stats` as JSON, atomically.

    Both files are written to temporary files beside their targets and then
    renamed into place; on any failure no new output (nor temporary) is left.
    """
    table = to_arrow(df)
    stats_text = json.dumps(pool_stats(df), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    with atomic_paths(parquet_path, stats_path) as (parquet_tmp, stats_tmp):
        pq.write_table(table, parquet_tmp)
        stats_tmp.write_text(stats_text, encoding="utf-8")
