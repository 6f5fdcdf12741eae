"""Call recordings: index, storage and playback."""
