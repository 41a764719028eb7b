# hee-monitor: one image for `serve` (webhooks, /healthz, /metrics) and `monitor` workers.
#
#   docker build -t hee-monitor .                          core + PostgreSQL driver
#   docker build --build-arg EXTRAS=postgres,llm -t hee-monitor:llm .   with the Ollama client
#
# Runs as an unprivileged user (uid 10001); state lives in /var/lib/hee-monitor (a volume).
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
# extras installed with the package: postgres (several instances on one database) by
# default; add llm for the local-model fallback
ARG EXTRAS=postgres
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hee_monitor ./hee_monitor
COPY patterns ./patterns
COPY schemas ./schemas
RUN python -m venv /opt/hee-monitor \
    && /opt/hee-monitor/bin/pip install ".[${EXTRAS}]"

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="hee-monitor" \
      org.opencontainers.image.description="Keeps CI pipelines healthy: watches GitHub Actions, diagnoses failed jobs, fixes what is safe, alerts" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 hee \
    && useradd --system --uid 10001 --gid hee --home-dir /var/lib/hee-monitor --shell /usr/sbin/nologin hee \
    && mkdir -p /var/lib/hee-monitor \
    && chown hee:hee /var/lib/hee-monitor
COPY --from=build /opt/hee-monitor /opt/hee-monitor
ENV PATH=/opt/hee-monitor/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HEE_STATE_DIR=/var/lib/hee-monitor
WORKDIR /var/lib/hee-monitor
VOLUME ["/var/lib/hee-monitor"]
USER 10001:10001
EXPOSE 8080
# /healthz of `serve` (a `monitor` worker serves it with --webhook-port 8080)
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
# SIGTERM (docker stop, Kubernetes) stops `serve` and `monitor` cleanly
STOPSIGNAL SIGTERM
ENTRYPOINT ["hee-monitor"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
