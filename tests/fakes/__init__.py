"""Test doubles shared by the test packages, one module each:

================  ==========================================================================
module            what it stands in for
================  ==========================================================================
ami_server        Asterisk's AMI on loopback (``FakeAmiServer``): scripted answers from the
                  real captures, or a byte-exact ``Replay`` of one
ami_actions       the CTI's ``AmiActions`` port in process (``FakeAmiActions``): records each
                  action after encoding it for real, answers Success or a scripted error
agi_asterisk      Asterisk's side of FastAGI on loopback (``FakeAsterisk``), transcripts
hub               the WebSocket hub (``RecordingHub``): the real hub that also remembers
                  every message it was asked to publish
================  ==========================================================================
"""
