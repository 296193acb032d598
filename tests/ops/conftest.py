"""One `rujukan serve` process shared by the tests of this folder that only read from it
or write data of their own (the shutdown test starts its own)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ops.server import Served, serve


@pytest.fixture(scope="session")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("served")) as live:
        yield live
