"""The benchmark helper scripts: the ratio table reads each group against its baseline."""
import pytest

from benchmarks import hot_path
from benchmarks.ratios import ratio_table


def _bench(group, contender, median, minimum=None):
    return {"group": group, "name": f"test[{contender}]", "params": {"contender": contender},
            "stats": {"median": median, "min": median if minimum is None else minimum}}


def test_ratio_table_divides_by_the_baseline_of_each_group():
    data = {"benchmarks": [_bench("fc", "layer", 3e-3, 2e-3), _bench("fc", "bare-matmul", 2e-3),
                           _bench("relu", "numpy", 1e-6), _bench("relu", "layer", 1.5e-6),
                           _bench("alone", "layer", 1.0)]}
    rows = ratio_table(data)[2:]
    assert rows == ["| alone | layer | 1 s |  |",
                    "| fc | bare-matmul | 2 ms | 1.00x / 1.00x |", "| fc | layer | 3 ms | 1.50x / 1.00x |",
                    "| relu | numpy | 1 us | 1.00x / 1.00x |", "| relu | layer | 1.5 us | 1.50x / 1.50x |"]


def test_hot_path_script_has_a_usage():
    with pytest.raises(SystemExit) as exit_info:
        hot_path.main(["--help"])
    assert exit_info.value.code == 0
