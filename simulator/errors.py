"""Errors of the PBX simulator.

    SimulatorError
    ├── SimulatorConfigError     a bad simulator option (unknown queue strategy, bad rate …)
    ├── AmiWireError             an AMI action the server cannot frame (line or message too long)
    └── AgiClientError           the simulated Asterisk could not talk FastAGI to the product
        └── AgiConnectError      the product's FastAGI server did not accept the connection

The AMI server never lets an ``AmiWireError`` escape a session: it answers or drops that one
client. The call generator turns ``AgiConnectError`` into the dialplan's ``AGISTATUS=FAILURE``
path (default queue), exactly what a real Asterisk does when the IVR is down.
"""

from __future__ import annotations


class SimulatorError(Exception):
    """Root of every error the simulator raises on purpose."""


class SimulatorConfigError(SimulatorError):
    """A simulator option is invalid; the message names it."""


class AmiWireError(SimulatorError):
    """An AMI client sent something that cannot be framed as an action."""


class AgiClientError(SimulatorError):
    """The FastAGI conversation with the product failed (protocol or I/O)."""


class AgiConnectError(AgiClientError):
    """The product's FastAGI server refused or did not answer the connection."""
