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


def pytest_collection_modifyitems(session, config, items):
    """The JAX tests run last: JAX's runtime starts threads, and a later ``os.fork()`` (every check with a time
    limit runs in a forked child) could deadlock on a lock one of them holds; JAX warns so at every fork."""
    items.sort(key=lambda item: "test_gradcheck_jax" in item.nodeid)     # stable: the rest keep their order
