"""The simulated agents join ``night`` as the product's agents do: the simulator's copy of the
rule agrees with ``callcenter.shifts.login_queues``, and every place that logs simulated agents
in uses it."""

from __future__ import annotations

import argparse
from itertools import permutations
from pathlib import Path

from callcenter.domain import HOTLINE_QUEUES
from callcenter.settings import load_settings
from callcenter.shifts import GENERAL_QUEUES, NIGHT_QUEUE, login_queues
from simulator import config as simulated
from simulator.cli import add_simulate_arguments, load_config
from simulator.config import agent_login_queues
from simulator.simulator import SimulatorOptions
from simulator.wiring import simulator_options


def test_the_simulators_rule_is_the_products() -> None:
    assert (simulated.NIGHT_QUEUE, simulated.GENERAL_QUEUES) == (NIGHT_QUEUE, GENERAL_QUEUES)
    for size in range(len(HOTLINE_QUEUES) + 1):
        for queues in permutations(HOTLINE_QUEUES, size):
            assert agent_login_queues(queues) == login_queues(queues), queues
    assert agent_login_queues([" presales", "", "presales"]) == login_queues(
        [" presales", "", "presales"])


def test_simulate_agents_log_in_to_night_with_the_general_queues() -> None:
    parser = argparse.ArgumentParser()
    add_simulate_arguments(parser)
    default = load_config(parser.parse_args([]))
    assert default.agent_queues == ("presales", "aftersales", "complaints", "techsupport",
                                    "night")
    specialists = load_config(parser.parse_args(["--queues", "complaints"]))
    assert specialists.agent_queues == ("complaints",)


def test_real_time_simulator_agents_log_in_to_night_by_default() -> None:
    assert SimulatorOptions().agent_queues == ("aftersales", "presales", "night")


def test_serve_simulate_agents_log_in_with_the_products_rule(tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"recording": {"dir": str(tmp_path)}})
    queues = simulator_options(settings).agent_queues
    assert queues == login_queues(("aftersales", "presales", "complaints", "techsupport"))
    assert NIGHT_QUEUE in queues
