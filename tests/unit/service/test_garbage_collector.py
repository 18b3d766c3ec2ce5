"""cds_service.garbage_collector: what a gunicorn worker does once the app is loaded (issue 20)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from cds_service import gunicorn_conf
from cds_service.garbage_collector import FIRST_GENERATION_THRESHOLD, settle_after_start


@pytest.fixture
def restored_collector() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("restored_collector")
def test_settling_freezes_the_start_up_objects_and_raises_the_first_threshold() -> None:
    older = gc.get_threshold()[1:]
    settle_after_start()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == (FIRST_GENERATION_THRESHOLD, *older)


@pytest.mark.usefixtures("restored_collector")
def test_cycles_made_after_settling_are_still_collected() -> None:
    settle_after_start()

    class Node:
        partner: object = None

    first, second = Node(), Node()
    first.partner, second.partner = second, first
    gone = weakref.ref(first)
    del first, second
    gc.collect()
    assert gone() is None  # the cycle was found and freed


@pytest.mark.usefixtures("restored_collector")
def test_gunicorn_settles_each_worker_after_loading_the_app() -> None:
    gunicorn_conf.post_worker_init(worker=None)
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == FIRST_GENERATION_THRESHOLD
