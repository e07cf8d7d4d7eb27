"""Loading causal LMs and tokenizers the same way for hub names, local paths and built models."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelRef:
    """Where a model comes from: a hub name (+ revision) or a local directory."""

    name_or_path: str
    revision: str | None = None

    def kwargs(self) -> dict:
        return {"revision": self.revision} if self.revision else {}

    def as_dict(self) -> dict:
        return {"name_or_path": self.name_or_path, "revision": self.revision}

    def portable(self) -> "ModelRef":
        """A reference valid from any working directory: an existing local path made absolute,
        a hub name (+ revision) kept as is. Saved adapters record this as their base model."""
        import os

        if os.path.exists(self.name_or_path):
            return ModelRef(os.path.abspath(self.name_or_path), self.revision)
        return self


def use_threads(threads: int) -> None:
    """Bound this job's CPU threads to its declared `threads`: torch's intra-op pool and the
    Rust tokenizers' pool (rayon, which otherwise takes every core the process may use, so
    score jobs run side by side by `snakemake --cores N` would oversubscribe the machine).

    RAYON_NUM_THREADS is read when tokenizers first parallelises, so call this before the
    first tokenizer call of the job. TOKENIZERS_PARALLELISM=false still turns it off.
    """
    import os

    import torch

    threads = int(threads)
    if threads < 1:
        raise ValueError(f"threads must be >= 1 (got {threads})")
    torch.set_num_threads(threads)
    os.environ["RAYON_NUM_THREADS"] = str(threads)


def resolve_device(device: str) -> str:
    """'auto' → 'cuda' when a GPU is visible, else 'cpu'. 'cuda' without a GPU is an error."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("compute.device is 'cuda' but torch sees no GPU")
    return device


def resolve_dtype(precision: str, device: str):
    """'auto' → bf16 on a GPU that supports it, else fp32."""
    import torch

    if precision == "auto":
        if device == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


def _looks_local(name: str) -> bool:
    """A local directory, not a hub id ('org/name' or 'name'): absolute, relative with ./ or ~,
    or with more than one '/'."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1


def _from_pretrained(cls, ref: ModelRef, what: str, **kwargs):
    """`cls.from_pretrained` with an error that names the model reference: transformers says
    "Repo id must be in the form …" for a local directory that does not exist."""
    import os

    from .errors import DataError

    name = ref.name_or_path
    if _looks_local(name) and not os.path.isdir(os.path.expanduser(name)):
        raise DataError(name, None, None, f"{what}: model directory not found (a hub model is named "
                                          "'org/name'; a local one is a directory with config.json)")
    try:
        return cls.from_pretrained(name, **ref.kwargs(), **kwargs)
    except (OSError, ValueError) as e:   # missing files; a directory without tokenizer files
        where = "local directory" if os.path.isdir(os.path.expanduser(name)) else "hub model"
        raise DataError(name, None, None, f"cannot load the {what} ({where}): {e}") from e


def load_tokenizer(ref: ModelRef):
    """A fast tokenizer; a missing pad token becomes EOS (padding is always masked)."""
    from transformers import AutoTokenizer

    tok = _from_pretrained(AutoTokenizer, ref, "tokenizer")
    if not getattr(tok, "is_fast", False):
        raise RuntimeError(f"{ref.name_or_path}: selectbench needs a fast tokenizer (character offsets)")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def load_causal_lm(ref: ModelRef, device: str, dtype):
    from transformers import AutoModelForCausalLM

    model = _from_pretrained(AutoModelForCausalLM, ref, "model", dtype=dtype)
    return model.to(device).eval()


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


CHECKPOINT_RECORD = "selectbench_checkpoint.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")
FULL_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")


def checkpoint_record(checkpoint) -> dict:
    """The record of a checkpoint selectbench wrote, after checking its files are all there.

    A directory without its record, adapter config or weights is a DataError naming the
    directory and the missing file (not peft/transformers' "Repo id must be in the form"
    hub error, which they raise when a local path lacks the files they look for).
    """
    from pathlib import Path

    from .errors import DataError
    from .io import read_json

    ck = Path(checkpoint)
    if not ck.is_dir():
        raise DataError(ck, None, None, "checkpoint directory not found")
    if not (ck / CHECKPOINT_RECORD).is_file():
        raise DataError(ck, None, None, f"not a selectbench checkpoint: no {CHECKPOINT_RECORD} "
                                        "(the fine-tuning job did not finish; rerun it)")
    meta = read_json(ck / CHECKPOINT_RECORD, "checkpoint record")
    if meta.get("peft") == "lora":
        needed = [("adapter_config.json",), ADAPTER_WEIGHTS]
        what = "LoRA adapter"
    else:
        needed = [("config.json",), FULL_WEIGHTS]
        what = "full checkpoint"
    for names in needed:
        if not any((ck / n).is_file() for n in names):
            raise DataError(ck, None, None, f"incomplete {what}: no {' or '.join(names)} "
                                            "(the fine-tuning job did not finish or the files were moved; rerun it)")
    return meta


def hidden_size_on_disk(name_or_path: str, revision: str | None = None) -> int | None:
    """The model's hidden size from its config.json when that file is already on this machine
    (a local directory, or the Hugging Face cache; nothing is downloaded), else None.

    `hidden_size`, or `d_model` (T5-style encoders such as GTR). Used at workflow parse time to
    size embedding scorers' memory (`rules/common.smk`)."""
    import json
    from pathlib import Path

    path = Path(name_or_path) / "config.json"
    if not path.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(str(name_or_path), "config.json", revision=revision)
        except Exception:       # not a repo id, no cache: unknown
            return None
        if not isinstance(cached, str):
            return None
        path = Path(cached)
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    size = cfg.get("hidden_size") or cfg.get("d_model")
    return int(size) if isinstance(size, int) and size > 0 else None
