"""Root conftest: ``--benchmark-only`` turns the ``--benchmark-disable`` of addopts off.

addopts disables benchmarks so a plain ``pytest`` runs each once as a test; asking for
``pytest benchmarks --benchmark-only`` should then time them instead of failing on the clash.
"""
import pytest

pytest_plugins = ["pytester"]      # the gradcheck plugin's own tests run pytest inside pytest


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    if getattr(config.option, "benchmark_only", False):
        config.option.benchmark_enable = True
