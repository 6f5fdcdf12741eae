"""The EAGI relay: Asterisk runs it for one spoken answer; it streams the caller's audio to the
``serve`` process, which decodes as the audio arrives and decides (``speech.stream_server``).

The IVR (FastAGI) runs it with ``EXEC EAGI <this script>,<host>:<port>,<listen id>``. As a
classic EAGI script it gets the AGI environment on stdin (read by pyst2's ``AGI``) and the
caller's audio, 8 kHz 16-bit signed linear, on file descriptor 3. It connects to
``host:port``, writes ``LISTEN <id>\\n``, then the audio as it comes, until the server writes
``DONE\\n`` (decided), closes, or ``MAX_SECONDS`` pass; then it exits and the IVR carries on.

Install: the ``callcenter-eagi`` command (or this file with pyst2) on the Asterisk host; the
model stays in the ``serve`` process, loaded once. Measured against FastAGI ``RECORD FILE``
in README "Speech": EAGI decides about half a second sooner after the caller stops speaking.
"""

from __future__ import annotations

import os
import select
import socket
import sys

FRAME_BYTES = 320  # 20 ms of 8 kHz slin, what Asterisk writes per frame
MAX_SECONDS = 15.0
CONNECT_TIMEOUT_S = 2.0


def relay(address: str, listen_id: str, audio_fd: int = 3) -> int:
    """Stream ``audio_fd`` to ``address`` (``host:port``) until told to stop; returns the
    bytes sent. Raises ``OSError`` when the server cannot be reached."""
    host, _, port = address.rpartition(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S) as sock:
        sock.sendall(f"LISTEN {listen_id}\n".encode("ascii"))
        sock.settimeout(None)
        limit = MAX_SECONDS * 16000
        while sent < limit:
            readable, _, _ = select.select([audio_fd, sock.fileno()], [], [], 1.0)
            if sock.fileno() in readable:
                return sent  # DONE, or the server closed: either way we are finished
            if audio_fd in readable:
                frame = os.read(audio_fd, FRAME_BYTES)
                if not frame:
                    return sent
                sock.sendall(frame)
                sent += len(frame)
    return sent


def main(argv: list[str] | None = None) -> int:
    from asterisk.agi import AGI  # pyst2: reads the agi_* environment from stdin

    args = sys.argv[1:] if argv is None else argv
    agi = AGI()
    if len(args) != 2:
        agi.verbose("callcenter-eagi: usage: EAGI(callcenter-eagi,HOST:PORT,LISTEN_ID)")
        return 2
    try:
        relay(args[0], args[1])
    except OSError as exc:
        agi.verbose(f"callcenter-eagi: {args[0]}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
