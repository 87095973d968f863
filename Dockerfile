# The topic service and its trainer in one image.
#
#   docker build -t news-topics .                                  # from python:3.11-slim
#   docker build --build-arg BASE_IMAGE=local/python-base:3.11 .   # from a local base image
#
# Stages: deps (a virtual environment with the pinned requirements), model
# (the default model trained from seeds/, so the image serves out of the box),
# scorer (the compiled single-article scorer, where the compiler image has a C
# compiler) and runtime (non-root, code and model only).
#
# Slim Python images have no C compiler, so by default the image scores every
# article in Python. For the compiled scorer, name an image with the same C
# library and a compiler (for python:3.11-slim, python:3.11 has gcc):
#   docker build --build-arg COMPILER_IMAGE=python:3.11 .

ARG BASE_IMAGE=python:3.11-slim
ARG COMPILER_IMAGE=${BASE_IMAGE}

FROM ${COMPILER_IMAGE} AS scorer
ARG COMPILER_IMAGE
COPY runtime/_scorer.c /src/_scorer.c
RUN mkdir -p /scorer && if command -v cc >/dev/null 2>&1; then \
      cc -O2 -shared -fPIC -o /scorer/_scorer.so /src/_scorer.c -lm; \
    else echo "no C compiler in ${COMPILER_IMAGE}: articles are scored in Python"; fi

FROM ${BASE_IMAGE} AS deps
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python3 -m venv /opt/venv
# Dependencies get their own layer, rebuilt only when requirements.txt changes.
COPY requirements.txt /tmp/requirements.txt
RUN /opt/venv/bin/pip install --no-compile -r /tmp/requirements.txt

FROM deps AS model
WORKDIR /build
COPY runtime/ runtime/
COPY training/ training/
COPY seeds/ seeds/
RUN /opt/venv/bin/python -m training --data seeds --out /models --quiet

FROM ${BASE_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    MPLCONFIGDIR=/tmp/matplotlib \
    TOPICS_MODEL_DIR=/models \
    TOPICS_BIND=0.0.0.0:8000 \
    TOPICS_WORKER_TMP_DIR=/tmp
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin topics \
    && mkdir -p /feedback && chown topics:topics /feedback
COPY --from=deps /opt/venv /opt/venv
WORKDIR /app
COPY gunicorn.conf.py ./
COPY runtime/ runtime/
COPY --from=scorer /scorer/ runtime/
COPY training/ training/
COPY service/ service/
COPY batch/ batch/
COPY client/ client/
COPY seeds/ seeds/
COPY --from=model --chown=topics:topics /models /models
USER topics
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
