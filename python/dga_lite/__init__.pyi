from os import PathLike
from typing import Any

from ._native import Model as Model, ModelError as ModelError, __version__ as __version__

def shared_model(path: str | PathLike[str] | None = None, **options: Any) -> Model:
    """The one Model of this process for these arguments, loaded on first use."""
