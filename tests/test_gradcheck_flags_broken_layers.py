"""The checker against the zoo of broken layers: every one must be flagged, in both modes, with a useful text."""
import pytest

from gradcheck import GradientCheckError, assert_gradients
from tests.broken_layers import BROKEN


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("name", list(BROKEN))
def test_broken_layer_is_flagged(name, mode):
    factory, shape, tensor, fragment = BROKEN[name]
    with pytest.raises(GradientCheckError) as info:
        assert_gradients(factory(), shape, mode=mode)
    report = info.value.report
    assert not report.ok
    text = str(info.value)
    assert fragment in text, text
    if tensor is None:
        assert report.problems, text
    else:
        failing = [t for t in report.tensors if not t.ok]
        assert [t.name for t in failing] == [tensor], text
        if failing[0].failed:
            assert failing[0].worst and failing[0].worst[0].index, "failures must come with element indices"
        else:
            assert failing[0].coverage_problem, "a tensor without wrong elements fails only for what was not checked"
        if mode == "fast":      # element-level either way: directions re-checked, or the full probes outright
            assert "checked one by one" in failing[0].note or "checked as in full mode" in failing[0].note


def test_scale_error_on_weights_and_on_softmax_is_flagged():
    """A relative 1e-5 error is caught on the weight gradient and on a non-linear layer too."""

    from core import FullyConnected, SoftMax

    class WeightScale(FullyConnected):
        def backward(self, error_tensor):
            grad = super().backward(error_tensor)
            self._gradient_weights *= 1 + 1e-5
            return grad

    class SoftMaxScale(SoftMax):
        def backward(self, error_tensor):
            return super().backward(error_tensor) * (1 - 1e-5)

    for layer, shape, name in [(WeightScale(8, 6), (5, 8), "weights"), (SoftMaxScale(), (5, 7), "input")]:
        with pytest.raises(GradientCheckError, match=r"0\.99999 x numeric|1\.00001 x numeric") as info:
            assert_gradients(layer, shape)
        assert [t.name for t in info.value.report.tensors if not t.ok] == [name]
