"""The real-speech tier: real Kokoro v1.0 weights assembled from packages on the index, and an
offline Whisper that hears what the engine said (see ../../README.md, "Real speech")."""
