"""One private PostgreSQL cluster for the fault tests (tests/faults/cluster.py); each test
takes its own migrated database in it. Skipped where it cannot be made, except with
CI=true, where that fails the run."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from app.core.migrate import upgrade
from tests.conftest import IN_CI, _run
from tests.faults.cluster import PgCluster, private_cluster, unavailable_reason


@pytest.fixture(scope="session")
def cluster() -> Iterator[PgCluster]:
    reason = unavailable_reason()
    if reason is not None:
        if IN_CI:
            pytest.fail(f"fault tests need a private PostgreSQL cluster and CI=true: {reason}")
        pytest.skip(reason)
    with private_cluster() as made:
        yield made


@dataclass
class FaultDatabase:
    cluster: PgCluster
    name: str

    @property
    def url(self) -> str:
        return self.cluster.url(self.name)


@pytest.fixture
def fault_db(cluster: PgCluster) -> FaultDatabase:
    """A fresh, migrated database in the private cluster (dropped with the cluster)."""
    if not cluster.running():  # a test that stopped it and failed before restarting it
        cluster.start()
    name = f"faults_{uuid.uuid4().hex[:8]}"
    _run(cluster.create_database(name))
    _run(lambda: upgrade(cluster.url(name)))
    return FaultDatabase(cluster, name)
