"""Checks of report figures: a name, and ``applies`` answering with a bool.
"""

from __future__ import annotations

import numpy as np

from .base import _Context


# --------------------------------------------------------------------------- plot


def check_plot_declares(cls, ctx: _Context) -> None:
    """A plot has a name and answers ``applies`` on an empty result set with a bool.

    The empty set has the plot's ``required_columns``, as ``regsim report``
    checks those before it calls ``applies``.
    """
    import pandas as pd

    if not cls.name:
        raise AssertionError("plot has no name")
    columns = ["sweep", "status", "penalty", *getattr(cls, "required_columns", ())]
    empty = pd.DataFrame({c: [] for c in dict.fromkeys(columns)})
    answer = cls().applies(empty)
    if not isinstance(answer, (bool, np.bool_)):
        raise AssertionError(f"applies(df) returned {answer!r}, expected a bool")
    if answer:
        raise AssertionError("applies(df) is true for an empty result set")
