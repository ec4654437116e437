"""LOGSHIP_EVENT_LOOP: the agent's loop is asyncio's or uvloop's, as configured (issue 15.5)."""

from __future__ import annotations

import asyncio

import pytest

from logship import eventloop
from logship.config import ConfigError, load


async def _loop_module() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__.split(".")[0]


def test_asyncio_runs_on_the_standard_loop() -> None:
    assert eventloop.run(_loop_module(), "asyncio") == "asyncio"


def test_uvloop_runs_on_uvloop() -> None:
    pytest.importorskip("uvloop")  # an optional extra: pip install 'logship[uvloop]'
    assert eventloop.run(_loop_module(), "uvloop") == "uvloop"


def test_auto_is_uvloop_when_installed_else_asyncio() -> None:
    expected = "uvloop" if eventloop.uvloop_available() else "asyncio"
    assert eventloop.resolve("auto") == expected
    assert eventloop.run(_loop_module(), "auto") == expected


def test_the_default_and_each_choice_reach_the_config() -> None:
    assert load({}).event_loop == "asyncio"
    assert load({"LOGSHIP_EVENT_LOOP": "Auto"}).event_loop == "auto"
    assert load({"LOGSHIP_EVENT_LOOP": "asyncio"}).event_loop == "asyncio"


def test_an_unknown_loop_stops_at_start_naming_variable_value_and_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        load({"LOGSHIP_EVENT_LOOP": "trio"})
    [problem] = caught.value.problems
    assert "LOGSHIP_EVENT_LOOP" in problem and "trio" in problem
    assert "auto, asyncio, uvloop" in problem


def test_uvloop_asked_for_but_not_installed_stops_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(eventloop, "uvloop_available", lambda: False)
    with pytest.raises(ConfigError) as caught:
        load({"LOGSHIP_EVENT_LOOP": "uvloop"})
    [problem] = caught.value.problems
    assert "LOGSHIP_EVENT_LOOP" in problem and "uvloop" in problem and "not installed" in problem
    assert eventloop.resolve("auto") == "asyncio"
