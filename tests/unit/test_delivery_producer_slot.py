"""The runtime's replaceable producer and the errors that make a producer useless."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka.errors import KafkaTimeoutError, OutOfOrderSequenceNumber, UnknownProducerId

from gridloop.delivery.kafka import ProducerSlot, producer_is_broken


async def test_awaiting_the_slot_gives_the_current_producer_and_waits_while_it_is_replaced() -> None:
    slot = ProducerSlot()
    first, second = object(), object()
    slot.set(first)
    assert await slot is first and slot.current is first
    slot.clear()
    assert slot.current is None
    waiting = asyncio.ensure_future(_get(slot))
    await asyncio.sleep(0.01)
    assert not waiting.done(), "no producer while it is being replaced"
    slot.set(second)
    assert await asyncio.wait_for(waiting, 1) is second
    assert await slot is second


async def _get(slot: ProducerSlot) -> object:
    return await slot


async def test_cancelling_a_waiter_does_not_break_the_slot() -> None:
    slot = ProducerSlot()
    waiter = asyncio.ensure_future(_get(slot))
    await asyncio.sleep(0)
    waiter.cancel()
    producer = object()
    slot.set(producer)
    assert await slot is producer


@pytest.mark.parametrize(
    ("error", "broken"),
    [
        (OutOfOrderSequenceNumber(), True),
        (UnknownProducerId(), True),
        (KafkaTimeoutError(), False),
        (ConnectionError("broker down"), False),
    ],
)
def test_only_errors_a_producer_cannot_recover_from_replace_it(error: BaseException, broken: bool) -> None:
    assert producer_is_broken(error) is broken


def test_a_fatal_error_wrapped_by_another_still_counts() -> None:
    try:
        try:
            raise OutOfOrderSequenceNumber()
        except OutOfOrderSequenceNumber as inner:
            raise RuntimeError("send failed") from inner
    except RuntimeError as outer:
        assert producer_is_broken(outer)
