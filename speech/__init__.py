"""On-premises speech: transcripts of recordings (vosk), transcript search, keyword alerts and
spoken choices in the IVR. Nothing leaves the machine: models are local directories."""
