"""Kokoro-82M synthesis: the catalog, the engine and the RunPod handler."""
