"""``callcenter simulate`` as the lead will wire it: parser options and the two run modes."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

import pytest

from simulator.cli import add_simulate_arguments, run_simulation
from tests.simulator.test_simulator import tiny_ivr


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="callcenter simulate")
    add_simulate_arguments(parser)
    return parser.parse_args(argv)


async def test_a_virtual_run_prints_a_report_with_no_lost_call(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = await run_simulation(parse("--virtual", "--calls-per-second", "0.2", "--duration",
                                      "300", "--agents", "4", "--seed", "3"))
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["mode"] == "virtual" and report["lost"] == 0
    assert report["generated"] == report["ended"] > 30


async def test_a_virtual_run_is_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    args = ("--virtual", "--calls", "20", "--interval", "5", "--agents", "2", "--seed", "8")
    await run_simulation(parse(*args))
    first = json.loads(capsys.readouterr().out)
    await run_simulation(parse(*args))
    second = json.loads(capsys.readouterr().out)
    first.pop("wall_seconds")
    second.pop("wall_seconds")
    assert first == second and first["generated"] == 20


async def test_a_live_run_places_the_calls_on_the_products_fastagi(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    server = await asyncio.start_server(tiny_ivr, "127.0.0.1", 0)
    host, port = server.sockets[0].getsockname()[:2]
    try:
        async with asyncio.timeout(30):
            code = await run_simulation(parse(
                "--calls", "3", "--interval", "0.01", "--fastagi", f"{host}:{port}",
                "--ami-port", "0", "--agents", "3", "--answer-after", "0.05",
                "--handle-time", "0.1", "--time-scale", "0.001", "--no-speech",
                "--recording-dir", str(tmp_path)))
    finally:
        server.close()
        await server.wait_closed()
    lines = capsys.readouterr().out.strip().split("\n", 1)
    started, report = json.loads(lines[0]), json.loads(lines[1])
    assert started["calls"] == 3 and started["ami"].startswith("127.0.0.1:")
    assert code == 0 and report["ended"] == 3 and report["lost"] == 0


def test_the_fastagi_address_must_be_host_and_port() -> None:
    with pytest.raises(SystemExit):
        parse("--fastagi", "nowhere")
