# syntax=docker/dockerfile:1
# The TrainJob operator: `python -m trainjob_operator`, as the Helm chart runs it. No torch.
#   docker build -t ghcr.io/trainjob/operator:0.1.0 .
# Python 3.11 (what the tests run on), pinned by tag and digest.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm@sha256:86adf8dbadc3d6e82ee5dd2c74bec2e1c2467cdad47886280501df722372d2e1

FROM ${PYTHON_IMAGE} AS build
# Exactly the locked packages (hack/lock-images.sh: trainjob[operator]), wheels only so nothing
# compiles, into a venv without pip; then the trainjob distribution itself, without torch (the
# `trainer` extra is not installed); `pip check` proves the lock complete.
RUN python -m venv --without-pip /opt/venv
COPY operator/requirements.txt /tmp/requirements.txt
RUN pip --python /opt/venv/bin/python install --no-cache-dir --disable-pip-version-check \
        --only-binary=:all: --no-deps --requirement /tmp/requirements.txt
COPY pyproject.toml README.md /src/
COPY trainer_image/trainjob_api /src/trainer_image/trainjob_api
COPY trainer_image/trainjob /src/trainer_image/trainjob
COPY operator/trainjob_operator /src/operator/trainjob_operator
RUN pip --python /opt/venv/bin/python install --no-cache-dir --disable-pip-version-check --no-deps /src \
    && pip --python /opt/venv/bin/python check

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="trainjob-operator" \
      org.opencontainers.image.description="The TrainJob operator: PyTorch DDP training runs on Kubernetes (kopf)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.13-slim-bookworm"
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
WORKDIR /tmp
# Numeric, so that runAsNonRoot can verify it (the chart's runAsUser is the same).
USER 65532:65532
# kopf's liveness endpoint and the Prometheus metrics.
EXPOSE 8080 9090
ENTRYPOINT ["python", "-m", "trainjob_operator"]
