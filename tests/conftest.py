import os

# Nothing in the tests leaves the machine, whether pytest is started by `make test` (which sets these
# too) or by hand: no usage telemetry from huggingface_hub or gradio. Set before either is imported.
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import pytest  # noqa: E402
import torch  # noqa: E402

pytest_plugins = ["conftest_hub"]


@pytest.fixture(autouse=True, scope="session")
def one_torch_thread():
    # Tiny test models: with several intra-op threads on a busy 2-core machine, thread hand-offs cost
    # more than the arithmetic (measured 5x slower). Subprocesses set their own.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True, scope="session")
def no_agent_registry_download():
    """huggingface_hub builds its user-agent from a registry of "agent harnesses" that it downloads from
    huggingface.co on the first request of a process (and from every thread that races it there).
    Tests never leave the machine (test_space.py refuses and records any such lookup): start the
    session with the registry huggingface_hub itself falls back to when the Hub is unreachable."""
    from huggingface_hub import constants
    from huggingface_hub.utils import _detect_agent

    constants.HF_HUB_DISABLE_TELEMETRY = True
    if hasattr(_detect_agent, "_registry") and hasattr(_detect_agent, "_EMPTY_REGISTRY"):
        _detect_agent._registry = _detect_agent._EMPTY_REGISTRY
    yield
