"""Group commit (app/intake/groups.py): how concurrent requests' events are grouped."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from app.intake.groups import GroupCommit


class Recorder:
    """A work function that records each group and can be held open."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail_next: Exception | None = None

    async def __call__(self, items: list[int]) -> None:
        self.groups.append(list(items))
        failure, self.fail_next = self.fail_next, None
        await self.gate.wait()
        if failure is not None:
            raise failure


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_request_is_done_at_once() -> None:
    groups: GroupCommit[int] = GroupCommit(max_events=10, max_in_flight=1)
    work = Recorder()
    await groups.run("k", [1], work)
    assert work.groups == [[1]]


async def test_requests_arriving_during_a_transaction_go_in_the_next_together() -> None:
    groups: GroupCommit[int] = GroupCommit(max_events=10, max_in_flight=1)
    work = Recorder()
    work.gate.clear()
    first = asyncio.create_task(groups.run("k", [0], work))
    await settle()
    rest = [asyncio.create_task(groups.run("k", [i], work)) for i in range(1, 6)]
    await settle()
    assert work.groups == [[0]]  # the others wait for the first transaction
    work.gate.set()
    await asyncio.gather(first, *rest)
    assert work.groups == [[0], [1, 2, 3, 4, 5]]


async def test_a_group_holds_at_most_max_events_and_keeps_request_order() -> None:
    groups: GroupCommit[int] = GroupCommit(max_events=3, max_in_flight=1)
    work = Recorder()
    work.gate.clear()
    tasks = [asyncio.create_task(groups.run("k", [i, i + 100], work)) for i in range(4)]
    await settle()
    work.gate.set()
    await asyncio.gather(*tasks)
    # Whole requests only: [1, 101] + [2, 102] would be four events.
    assert work.groups == [[0, 100], [1, 101], [2, 102], [3, 103]]


async def test_up_to_max_in_flight_groups_run_at_once_per_key() -> None:
    groups: GroupCommit[int] = GroupCommit(max_events=10, max_in_flight=2)
    work = Recorder()
    work.gate.clear()
    tasks = []
    for i in range(5):  # one after the other: each finds the groups before it running
        tasks.append(asyncio.create_task(groups.run("k", [i], work)))
        await settle()
    other = asyncio.create_task(groups.run("other", [9], work))
    await settle()
    assert sorted(work.groups) == [[0], [1], [9]]
    work.gate.set()
    await asyncio.gather(*tasks, other)
    assert sorted(work.groups) == [[0], [1], [2, 3, 4], [9]]


async def test_a_failed_group_fails_each_member_and_the_next_group_runs() -> None:
    groups: GroupCommit[int] = GroupCommit(max_events=10, max_in_flight=1)
    work = Recorder()
    work.gate.clear()
    work.fail_next = ConnectionError("the database went away")
    first = asyncio.create_task(groups.run("k", [0], work))
    await settle()
    second = [asyncio.create_task(groups.run("k", [i], work)) for i in (1, 2)]
    await settle()
    work.gate.set()
    with pytest.raises(ConnectionError):
        await first
    # The second group runs after the first failed, and succeeds.
    assert await asyncio.gather(*second) == [None, None]
    assert work.groups == [[0], [1, 2]]


async def test_a_cancelled_request_leaves_its_events_in_the_group() -> None:
    groups: GroupCommit[int] = GroupCommit(max_events=10, max_in_flight=1)
    work = Recorder()
    work.gate.clear()
    first = asyncio.create_task(groups.run("k", [0], work))
    await settle()
    gone = asyncio.create_task(groups.run("k", [1], work))
    await settle()
    gone.cancel()
    work.gate.set()
    await first
    await groups.wait_idle()
    assert work.groups == [[0], [1]]
    assert gone.cancelled()


async def test_the_key_is_forgotten_when_idle() -> None:
    groups: GroupCommit[int] = GroupCommit()
    await groups.run("k", [1], Recorder())
    await groups.wait_idle()
    assert groups._queues == {}


def test_limits_are_checked() -> None:
    with pytest.raises(ValueError):
        GroupCommit(max_events=0)
    with pytest.raises(ValueError):
        GroupCommit(max_in_flight=0)


async def test_each_group_is_done_by_the_work_of_its_first_request() -> None:
    """The work carries its request's moment: a long-lived queue must not keep using the
    first request's work for every later group."""
    groups: GroupCommit[int] = GroupCommit(max_events=10, max_in_flight=1)
    done_by: list[tuple[str, list[int]]] = []
    gate = asyncio.Event()

    def work_of(name: str) -> Callable[[list[int]], Awaitable[None]]:
        async def work(items: list[int]) -> None:
            done_by.append((name, list(items)))
            await gate.wait()

        return work

    first = asyncio.create_task(groups.run("k", [0], work_of("a")))
    await settle()
    later = [asyncio.create_task(groups.run("k", [i], work_of(n))) for i, n in ((1, "b"), (2, "c"))]
    await settle()
    gate.set()
    await asyncio.gather(first, *later)
    assert done_by == [("a", [0]), ("b", [1, 2])]


async def test_shutdown_does_not_wait_forever_for_a_group() -> None:
    """A database that hangs must not hold shutdown: after the grace, the group is
    cancelled and so is its request."""
    groups: GroupCommit[int] = GroupCommit()

    async def hangs(items: list[int]) -> None:
        await asyncio.Event().wait()

    request = asyncio.create_task(groups.run("k", [1], hangs))
    await settle()
    await groups.wait_idle(grace_seconds=0.05)
    with pytest.raises(asyncio.CancelledError):
        await request
