"""Only the `privileged` marker's skip logic: such tests need root."""

from __future__ import annotations

import os

import pytest

PRIVILEGED_REASON = "needs root (CAP_NET_ADMIN/CAP_NET_RAW/CAP_BPF)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason=PRIVILEGED_REASON)
    for item in items:
        if "privileged" in item.keywords:
            item.add_marker(skip)
