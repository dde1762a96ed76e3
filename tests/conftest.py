import pytest
import torch

pytest_plugins = ["conftest_hub"]


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    # Tiny test models: with several intra-op threads on a busy 2-core machine, thread hand-offs cost
    # more than the arithmetic (measured 5x slower). Subprocesses set their own.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
