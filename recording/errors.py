"""Errors of the recording package.

    RecordingError
    ├── RecordingPathError   a file name that is not a recording or leaves the directory
    └── RecordingMissing     the index knows the recording but the file is not there (yet)
"""

from __future__ import annotations

from callcenter.errors import CallcenterError, NotFound


class RecordingError(CallcenterError):
    """Root of the recording package's errors."""

    error_id = "recording_error"


class RecordingPathError(RecordingError):
    error_id = "bad_recording_path"
    status = 400


class RecordingMissing(RecordingError, NotFound):
    error_id = "recording_missing"
    status = 404
