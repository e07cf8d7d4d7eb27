"""Raw instruction pools → one normalized schema (id, source, messages, origin, labels)."""

from .formats import FORMATS
from .load import (iter_pool, normalize_pool, pool_ids, pool_num_rows, read_pool, read_pool_rows, write_normalized_pool,
                   write_pool)
from .stats import pool_stats

__all__ = ["FORMATS", "iter_pool", "normalize_pool", "pool_ids", "pool_num_rows", "pool_stats", "read_pool", "read_pool_rows",
           "write_normalized_pool", "write_pool"]
