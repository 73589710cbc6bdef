"""The model: the synthesis engine (loading through the Hugging Face cache, one voice or a blend,
chunk by chunk), batched forward passes, precision per device, memory hygiene."""
