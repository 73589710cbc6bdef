"""Sound and captions: pacing and joining chunk audio, encoding files and streams, word timings from
the model's durations, subtitles."""
