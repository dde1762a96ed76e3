pytest_plugins = ["conftest_hub"]
