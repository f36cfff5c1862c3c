"""A finite-difference gradient checker for any object with ``forward``/``backward``.

>>> from gradcheck import check_layer
>>> from core import FullyConnected
>>> print(check_layer(FullyConnected(4, 3), (8, 4)).ok)
True

The names below are imported on first use, so that the command can set up its signal handling before
numpy and the checker load (a Ctrl-C during start-up then ends it as cleanly as one during a check).
"""
from __future__ import annotations

import importlib

__all__ = ["check_layer", "check_loss", "check_network", "check_function", "assert_gradients", "set_default_mode",
           "default_mode", "GradcheckReport", "TensorCheck", "ElementError", "GradientCheckError", "check_against",
           "assert_matches"]

_HOME = {name: "gradcheck.check" for name in __all__[:7]} | {name: "gradcheck.report" for name in __all__[7:11]} | \
    {name: "gradcheck.reference" for name in __all__[11:]}


def __getattr__(name: str) -> object:
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gradcheck' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
