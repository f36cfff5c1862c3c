"""A finite-difference gradient checker for any object with ``forward``/``backward``.

>>> from gradcheck import check_layer
>>> from core import FullyConnected
>>> print(check_layer(FullyConnected(4, 3), (8, 4)).ok)
True
"""
from gradcheck.check import (
    assert_gradients,
    check_function,
    check_layer,
    check_loss,
    check_network,
    default_mode,
    set_default_mode,
)
from gradcheck.report import ElementError, GradcheckReport, GradientCheckError, TensorCheck

__all__ = ["check_layer", "check_loss", "check_network", "check_function", "assert_gradients", "set_default_mode",
           "default_mode", "GradcheckReport", "TensorCheck", "ElementError", "GradientCheckError"]
