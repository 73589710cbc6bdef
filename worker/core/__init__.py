"""What every layer reads: the voice catalog (voices.yaml), the settings (environment variables),
the error types, and start-up (every setting checked once, one line and exit 1 when one is wrong)."""
