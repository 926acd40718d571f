"""dga-lite in Python: tell machine-generated (DGA) domain names from real ones.

    >>> import dga_lite
    >>> model = dga_lite.Model()              # the embedded default model
    >>> model.score(["google.com", "xjwqkdpqoe.net"])
    array([3.6690527e-04, 9.9867475e-01], dtype=float32)
    >>> model.verdict(["google.com", "xjwqkdpqoe.net", "printer.local"])
    ['benign', 'suspicious', 'local']

Names may be a list or tuple of str, a NumPy array of strings or objects, a pandas Series,
or any Arrow string column (pyarrow arrays and chunked arrays, polars Series). Scoring runs
in Rust without the GIL; scores equal the `dga-lite` CLI's bit for bit.
"""

import functools

from ._native import Model, ModelError, __version__

__all__ = ["Model", "ModelError", "shared_model", "__version__"]


@functools.lru_cache(maxsize=8)
def shared_model(path=None, **options):
    """The one Model of this process for these arguments, loaded on first use.

    For code that runs once per task in a long-lived worker (Spark executors' Python
    workers, multiprocessing pools): the model is loaded and its cache kept once per process,
    not once per task. Arguments are those of `Model`.
    """
    return Model(path, **options)
