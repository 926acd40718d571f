"""dga-lite in Python: tell machine-generated (DGA) domain names from real ones.

    >>> import dga_lite
    >>> model = dga_lite.Model()              # the embedded default model
    >>> model.score(["google.com", "xjwqkdpqoe.net"])
    array([0.001395, 0.998865], dtype=float32)
    >>> model.verdict(["google.com", "xjwqkdpqoe.net", "printer.local"])
    ['benign', 'suspicious', 'local']

Names may be a list or tuple of str, a NumPy array of strings or objects, a pandas Series,
or any Arrow string column (pyarrow arrays and chunked arrays, polars Series). Scoring runs
in Rust without the GIL; scores equal the `dga-lite` CLI's bit for bit.
"""

from ._native import Model, ModelError, __version__

__all__ = ["Model", "ModelError", "__version__"]
