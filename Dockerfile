# Three images from one file: the service (the default target), the trainer and the nginx front.
#
#   docker build -t news-topics .                                   # serve: runtime, service, batch, client
#   docker build --target train -t news-topics-trainer .            # train: runtime, training, seeds, matplotlib
#   docker build --target front -t news-topics-front .              # the public front: nginx (deploy/nginx/)
#   docker build --build-arg BASE_IMAGE=local/python-base:3.11 .    # from a local base image
#   docker build --build-arg MODEL=bundle .                         # serve the bundle in ./bundle/, untrained
#
# The serving image holds no training code and no trainer-only dependency (matplotlib):
# what it installs is pyproject.toml's [project].dependencies, pinned by requirements.txt.
# The trainer image adds the "train" extra. docs/deployment.md reports both sizes.
#
# Stages: scorer (the compiled single-article scorer, where the compiler image has a C
# compiler), deps and train-deps (virtual environments), model-seeds (the default model
# trained from seeds/, so the serving image answers out of the box) or model-bundle (a
# bundle you trained and checked, copied from ./bundle/ and verified against its manifest,
# with MODEL=bundle: no training in the build), train, and serve (last, so a plain
# `docker build` makes it).
#
# Slim Python images have no C compiler, so by default the image scores every article in
# Python. For the compiled scorer, name an image with the same C library and a compiler
# (for python:3.11-slim, python:3.11 has gcc):
#   docker build --build-arg COMPILER_IMAGE=python:3.11 .

ARG BASE_IMAGE=python:3.11-slim
ARG COMPILER_IMAGE=${BASE_IMAGE}
ARG MODEL=seeds

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
# Dependencies get their own layer, rebuilt only when pyproject.toml or requirements.txt change.
COPY pyproject.toml requirements.txt /src/
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['dependencies']))" \
      > /src/serve.txt \
    && /opt/venv/bin/pip install --no-compile -c /src/requirements.txt -r /src/serve.txt

FROM deps AS train-deps
RUN python3 -c "import tomllib; print('\n'.join(tomllib.load(open('/src/pyproject.toml', 'rb'))['project']['optional-dependencies']['train']))" \
      > /src/train.txt \
    && /opt/venv/bin/pip install --no-compile -c /src/requirements.txt -r /src/train.txt

FROM train-deps AS model-seeds
WORKDIR /build
COPY runtime/ runtime/
COPY training/ training/
COPY seeds/ seeds/
RUN /opt/venv/bin/python -m training --data seeds --out /models --quiet

# A bundle folder (what `python -m training` publishes, e.g. models/current copied to ./bundle;
# BUNDLE names another folder of the context starting with "bundle") becomes /models/<its version>,
# with `current` pointing at it; a bundle the service would refuse fails the build (runtime/install.py).
FROM deps AS model-bundle
ARG BUNDLE=bundle
WORKDIR /build
COPY runtime/ runtime/
COPY ${BUNDLE}/ /staging/
RUN /opt/venv/bin/python -m runtime.install /staging /models

FROM model-${MODEL} AS model

FROM ${BASE_IMAGE} AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    TOPICS_MODEL_DIR=/models
RUN useradd --create-home --uid 10001 --user-group --shell /usr/sbin/nologin topics \
    && mkdir -p /feedback /models /samples && chown topics:topics /feedback /models /samples
WORKDIR /app

# The trainer: `docker run news-topics-trainer --data /data/my.jsonl` publishes into /models.
FROM base AS train
ENV MPLCONFIGDIR=/tmp/matplotlib
COPY --from=train-deps /opt/venv /opt/venv
COPY runtime/ runtime/
COPY training/ training/
COPY seeds/ seeds/
USER topics
ENTRYPOINT ["python3", "-m", "training", "--out", "/models"]
CMD ["--data", "/app/seeds"]

# The public front: nginx with deploy/nginx/nginx.conf, listening on 8080 as an unprivileged user.
FROM ${BASE_IMAGE} AS front
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nginx \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid 10002 --user-group --no-create-home --shell /usr/sbin/nologin front
COPY deploy/nginx/nginx.conf /etc/nginx/nginx.conf
USER front
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/readyz', timeout=2)"]
CMD ["nginx", "-e", "stderr", "-g", "daemon off;"]

FROM base AS serve
ENV TOPICS_BIND=0.0.0.0:8000 \
    TOPICS_WORKER_TMP_DIR=/tmp
COPY --from=deps /opt/venv /opt/venv
COPY gunicorn.conf.py ./
COPY runtime/ runtime/
COPY --from=scorer /scorer/ runtime/
COPY service/ service/
COPY batch/ batch/
COPY client/ client/
COPY --from=model --chown=topics:topics /models /models
USER topics
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=2)"]
CMD ["gunicorn", "-c", "gunicorn.conf.py"]
