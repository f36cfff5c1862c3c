import json

import numpy as np
import pytest

from core import CrossEntropyLoss, FullyConnected, ReLU
from core.train import build_network
from gradcheck import GradientCheckError, assert_gradients, check_layer, check_loss
from tests.broken_layers import MeanInsteadOfSum


def test_failure_text_names_layer_tensor_indices_values_tolerance_and_hint():
    with pytest.raises(AssertionError) as info:
        assert_gradients(MeanInsteadOfSum(4, 3), (6, 4))
    assert isinstance(info.value, GradientCheckError)
    text = str(info.value)
    for fragment in ["MeanInsteadOfSum", "FAIL", "weights", "(5, 3)", "analytic", "numeric", "tolerance",
                     "rtol 1e-06", "hint:", "mean instead of sum"]:
        assert fragment in text, (fragment, text)
    worst = info.value.report.tensors[1].worst[0]
    assert abs(worst.analytic * 6 - worst.numeric) <= 1e-6 * abs(worst.numeric)
    assert f"{worst.index}" in text


def test_report_to_dict_is_json_and_complete():
    report = check_layer(FullyConnected(3, 2), (4, 3))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is True and data["target"] == "FullyConnected(3, 2)"
    assert [t["name"] for t in data["tensors"]] == ["input", "weights"]
    assert data["tensors"][1]["shape"] == [4, 2] and data["tensors"][1]["ok"] is True
    assert {"max_abs_error", "max_rel_error", "worst", "kinks", "skipped", "checked"} <= set(data["tensors"][0])


def test_assert_gradients_dispatches_and_returns_the_report():
    assert assert_gradients(ReLU(), (3, 2)).tensors[0].name == "input"
    assert assert_gradients(CrossEntropyLoss(), (3, 2)).tensors[0].name == "prediction"
    names = [t.name for t in assert_gradients(build_network("iris")).tensors]
    assert names == ["layers.0.weights", "layers.2.weights"]


def test_a_probability_a_step_from_zero_is_checked_at_a_smaller_step_not_skipped():
    """p = 1e-9 cannot move down by h = 6e-6: the ladder shrinks the step until both sides are in the domain."""
    p = np.array([[1e-9, 1.0 - 1e-9], [0.5, 0.5]])
    y = np.array([[1.0, 0.0], [0.0, 1.0]])
    report = assert_gradients(CrossEntropyLoss(), p, y)
    tensor = report.tensors[0]
    assert tensor.checked == 4 and not tensor.skipped and tensor.refined >= 1, str(report)


def test_elements_at_the_edge_of_the_domain_are_checked_from_one_side():
    from tests.broken_layers import LabelBlindLoss

    p = np.array([[0.0, 1.0], [0.3, 0.7]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    report = assert_gradients(CrossEntropyLoss(), p, y)
    assert report.tensors[0].one_sided == 1 and not report.tensors[0].skipped
    assert any("1 element(s) at the edge of forward's domain" in w for w in report.warnings)
    wrong = check_loss(LabelBlindLoss(), p, y)      # -1/p where y = 0: -1e16 at p = 0
    assert wrong.tensors[0].failed == 2 and wrong.tensors[0].worst[0].index == (0, 0)


def test_fast_mode_at_the_edge_of_the_domain_checks_every_element():
    """Directions that leave the domain go to the element-level rule, which shrinks the step."""
    rng = np.random.default_rng(3)
    p = rng.dirichlet(np.ones(6), size=8)
    p[0, 0], p[0, 1] = 1e-9, p[0, 1] + p[0, 0] - 1e-9
    y = np.eye(6)[rng.integers(0, 6, 8)]
    y[0] = np.eye(6)[0]
    report = assert_gradients(CrossEntropyLoss(), p, y, mode="fast")
    tensor = report.tensors[0]
    assert tensor.method == "directions" and not tensor.skipped and tensor.checked, str(report)


def test_progress_on_request_and_silence_otherwise(capsys):
    check_layer(FullyConnected(8, 4), (4, 8), progress=True)
    err = capsys.readouterr().err
    assert "gradcheck FullyConnected(8, 4): 68 elements in 2 tensor(s), about" in err
    assert "--mode fast takes about" in err and "forwards in" in err
    check_layer(FullyConnected(8, 4), (4, 8))            # stderr is not a terminal here: nothing
    assert capsys.readouterr().err == ""
    report = check_layer(FullyConnected(8, 4), (4, 8))
    data = report.to_dict()["tensors"][1]
    assert data["evaluations"] == report.tensors[1].evaluations > 0 and data["seconds"] >= 0


def test_the_ratio_to_tolerance_exists_exactly_for_the_elements_checked():
    """An element not checked (a lossy swish far below 0, in its own row) keeps its numeric estimate for the
    table, but has no ratio to its tolerance: the pictures must not colour it as if it had passed."""
    from tests.broken_layers import LossySwish

    report = check_layer(LossySwish(), np.array([[-30.5], [1.0]]))
    elements = report.tensors[0].elements
    assert not report.ok and elements.checked.tolist() == [[False], [True]], str(report)
    assert np.isfinite(elements.numeric).all()
    assert np.isnan(elements.badness[~elements.checked]).all()
    assert np.isfinite(elements.badness[elements.checked]).all()


def test_the_worst_list_of_a_failing_tensor_holds_its_failed_elements_only():
    from tests.broken_layers import SingleWrongElement

    report = check_layer(SingleWrongElement(4, 3), (6, 4))
    failing = [t for t in report.tensors if t.failed]
    assert [t.name for t in failing] == ["weights"] and failing[0].failed == 1, str(report)
    (worst,) = failing[0].worst
    assert worst.abs_error > worst.tolerance


def test_the_invariants_name_the_element_that_breaks_a_law():
    """The validator the suite holds every check to is itself held to its laws: a report whose element
    (1, 2) passed with an error over its tolerance is named, at that element, and so is a summary that does
    not match its elements."""
    from gradcheck.report import invariants

    report = check_layer(FullyConnected(4, 3), (5, 4))
    assert invariants(report) == []
    t = report.tensors[0]
    e = t.elements
    e.numeric[1, 2] = e.analytic[1, 2] + 10 * e.tolerance[1, 2]     # passed, yet 10x over its tolerance now
    broken = invariants(report)
    assert any("element (1, 2) passed away from a kink" in b for b in broken), broken
    e.numeric[1, 2] = e.analytic[1, 2]
    t.max_tolerance *= 2
    assert any(b.startswith("input: max tol = ") for b in invariants(report)), invariants(report)


def test_check_loss_takes_its_label_by_keyword_as_documented():
    p = np.full((4, 3), 1 / 3)
    y = np.eye(3)[[0, 1, 2, 0]]
    assert check_loss(CrossEntropyLoss(), prediction=p, label=y).ok
    assert check_layer(layer=FullyConnected(4, 3), inputs=(5, 4)).ok
