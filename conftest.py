"""Root conftest: makes ``pytest scenarios/`` collect scenario files as test items."""

pytest_plugins = ["harness.pytest_plugin"]
