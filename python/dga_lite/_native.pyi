"""Type stubs of the compiled module `dga_lite._native` (re-exported by `dga_lite`)."""

from os import PathLike
from typing import Any, Iterable, Literal

import numpy as np
import numpy.typing as npt

__version__: str

Verdict = Literal["dga", "suspicious", "benign", "local", "allowed", "empty", "invalid"]

class ModelError(ValueError):
    """A model file that is not a dga-lite model, is damaged, truncated or too new."""

class Model:
    """A dga-lite model ready to score names.

    Args:
        path: a model file written by `dga-lite train`; None for the embedded default.
        threads: scoring threads (default: one per CPU).
        scope: "registrable" (the registrable domain under the Public Suffix List, as the
            models were trained; the default) or "fqdn" (the whole name).
        score_local: score names that cannot be public (single labels, .local, reverse
            lookups...) instead of giving them the verdict "local" and a NaN score.
        threshold: a plain binary verdict at this score instead of the model's operating
            points (dga at or above it, benign below).
        cache_names: names whose scores are remembered between calls (0: none). Exact: the
            same answers with or without it; at most about 330 bytes per name.

    Raises:
        FileNotFoundError, OSError: the file cannot be read.
        ModelError: the file is not a dga-lite model, or is damaged.
        ValueError: an option out of range.
    """

    def __init__(
        self,
        path: str | PathLike[str] | None = None,
        *,
        threads: int | None = None,
        scope: Literal["registrable", "fqdn"] = "registrable",
        score_local: bool = False,
        threshold: float | None = None,
        cache_names: int = 65536,
    ) -> None: ...
    def score(self, names: Iterable[Any]) -> npt.NDArray[np.float32]:
        """One score (probability of DGA) per name, in order; NaN where a name was not
        scored (missing, invalid, local or allowed: see `verdict`)."""
    def verdict(self, names: Iterable[Any]) -> list[Verdict]:
        """One verdict per name: dga (at the model's FPR 1e-3 point), suspicious (FPR 1e-2),
        benign, local (cannot be a public name), allowed, empty (None, NaN, blank) or invalid
        (not a host name)."""
    def classify(
        self, names: Iterable[Any]
    ) -> tuple[npt.NDArray[np.float32], list[Verdict]]:
        """Scores and verdicts in one pass."""
    def family(
        self, names: Iterable[Any]
    ) -> tuple[list[str | None], npt.NDArray[np.float32]]:
        """A multiclass model's most probable DGA family per name and its probability, for
        names not called benign (None and NaN elsewhere). ValueError for a binary model."""
    def cache_info(self) -> dict[str, int]:
        """The name cache: hits, misses, names held, capacity."""
    @property
    def info(self) -> dict[str, Any]:
        """The model card: architecture, vocabulary, thresholds, training data, metrics."""
    @property
    def threshold(self) -> float:
        """The score at or above which a name is called dga."""
    @property
    def operating_points(self) -> dict[str, float] | None:
        """{"dga": ..., "suspicious": ...}, or None (no operating points, or a threshold)."""
    @property
    def architecture(self) -> str: ...
    @property
    def classes(self) -> list[str]:
        """Class names of a multiclass model (benign first); empty for a binary model."""
    @property
    def is_multiclass(self) -> bool: ...
    @property
    def threads(self) -> int: ...
    @property
    def scope(self) -> Literal["registrable", "fqdn"]: ...
