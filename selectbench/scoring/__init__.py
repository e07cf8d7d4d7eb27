"""Scorer registry: each scorer is one small module that registers itself."""

from .base import SCORERS, ScoreContext, ScorerSpec, check_scores, model_param_names, scorer
from . import alpagasus, deita, embed, ifd, length, less, perplexity, random, rds, reward, selectit  # noqa: F401  (registration)

__all__ = ["SCORERS", "ScoreContext", "ScorerSpec", "check_scores", "model_param_names", "scorer"]
