# RunPod Serverless GPU worker for Kokoro-82M. Weights, voices and G2P resources are baked in at
# build time, so a cold start downloads nothing (HF_HUB_OFFLINE=1 at run time).
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/opt/hf \
    PATH=/opt/venv/bin:$PATH

# python3-dev, build-essential, cmake: only a safety net for a package without a wheel for this
# Python (none known: pyopenjtalk, which built from source, is replaced by pyopenjtalk-plus wheels;
# the image build was not run where this was written, so the compiler stays until it is).
# espeak-ng: G2P for es/fr/hi/it/pt-br and English out-of-vocabulary words.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev build-essential cmake \
      espeak-ng libsndfile1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/venv

WORKDIR /app
COPY requirements-worker.txt ./
RUN pip install -r requirements-worker.txt \
 && pip install https://github.com/explosion/spacy-models/releases/download/en_core_web_sm-3.8.0/en_core_web_sm-3.8.0-py3-none-any.whl \
 && python -m unidic download

COPY voices.yaml ./
COPY worker/ worker/
# Both models and every catalog voice into the HF cache, then prove the cache is complete offline.
RUN python worker/fetch_weights.py && HF_HUB_OFFLINE=1 python worker/fetch_weights.py --check

ENV HF_HUB_OFFLINE=1
# The RunPod queue handler; KOKORO_SERVE=http (or the command `python -u worker/server.py`) serves
# the OpenAI-compatible HTTP API instead, on PORT (8880), for a load-balancing endpoint.
EXPOSE 8880
CMD ["python", "-u", "worker/handler.py"]
