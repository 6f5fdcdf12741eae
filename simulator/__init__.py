"""The built-in PBX simulator: a stand-in for Asterisk 22 and the load generator.

It speaks the product's two Asterisk interfaces exactly as Asterisk 22 does (checked byte for
byte against the captures in ``tests/fixtures/asterisk-22`` by ``test_conformance.py``):
AMI, as a server the CTI bridge logs in to, and FastAGI, as the client that runs the product's
IVR for each simulated call. In demo mode its simulated agents also use the product's web API
as the desk's browser does. It is a test double, not part of the product: it reaches the
product only over those three interfaces (it reads the product's settings object and the demo
merchants' data file), and the product imports it only in ``callcenter/cli.py`` for
``serve --simulate`` and ``simulate``.

Files, by role:

================  ================================================================================
``config``        queues.conf / extensions.conf / manager.conf of the simulated PBX (frozen)
``model``         the PBX's records: channels, members, devices, waiting callers, calls
``queue_engine``  app_queue's rules (rrmemory, wrap-up, priority, statistics), pure
``pbx``           the PBX machine ``step(state, input, now) -> (state, effects)``, pure
``ami_wire``      AMI framing and reply builders, pure
``ami_events``    Asterisk's event and list-item layouts, pure
``ami_session``   one AMI connection (login, classes), sans-IO; ``SessionHub`` fans out
``ami_server``    the asyncio TCP server over ``ami_session``
``agi_client``    res_agi's side of FastAGI: a pure simulated channel + the asyncio client
``callers``       simulated merchants (scripts, a random mix), the virtual-time IVR stand-in
``agents``        simulated agents and the desktop-driven demo phones
``recordings``    WAV files per answered call
``engine``        runs the machine against a clock (real or virtual) and the adapters
``virtual``       everything in virtual time (tests, conformance, soak)
``load``          Poisson arrivals with a day profile, plans and virtual/live runs
``simulator``     everything in real time (``Simulator.run_calls`` for end-to-end tests)
``demo_agents``   demo mode: the simulated agents save their wrap-ups over the product's HTTP API
``cli``           ``callcenter simulate`` / ``python -m simulator``
``wiring``        ``serve --simulate``: the stand-in PBX the composition root runs (``stand_in``)
``errors``        the exception tree
================  ================================================================================
"""

from simulator.callers import CallerScript
from simulator.config import LAB, PRODUCT, AmiAccount, PbxConfig, QueueConfig
from simulator.pbx import CallRecord
from simulator.simulator import Simulator, SimulatorOptions

__all__ = [
    "LAB",
    "PRODUCT",
    "AmiAccount",
    "CallRecord",
    "CallerScript",
    "PbxConfig",
    "QueueConfig",
    "Simulator",
    "SimulatorOptions",
]
