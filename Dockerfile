# Overstap sidecar: `overstap serve` in a slim, non-root container with its outbox on a volume.
#
#   docker build -t overstap .
#   docker run -p 8080:8080 -v overstap-data:/data overstap --downstream http://zaaksysteem:8080/soap
#
# See docs/deploy-sidecar.md for the compose example beside a legacy system, TLS/mTLS and the config file.
# The official StUF/iWmo schemas are not in the image (their licence is not ours): mount them and set
# OVERSTAP_REFERENCE_DIR to validate every canonical message before it is acknowledged.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY dialects ./dialects
COPY mappings ./mappings
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OVERSTAP_HEALTH_URL=http://127.0.0.1:8080/healthz
RUN groupadd --system --gid 10001 overstap \
 && useradd --system --uid 10001 --gid overstap --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin overstap \
 && mkdir /data && chown overstap:overstap /data
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER overstap:overstap
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# /healthz answers once the outbox and the forwarder run; behind mTLS set OVERSTAP_HEALTH_URL (https),
# OVERSTAP_HEALTH_CA, OVERSTAP_HEALTH_CERT and OVERSTAP_HEALTH_KEY.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "gateway.proxy.healthcheck"]
# SIGTERM (docker stop) makes the sidecar stop accepting, finish the deliveries in flight (up to
# shutdown_grace, 30 s) and flush the outbox; give it a stop timeout above that.
STOPSIGNAL SIGTERM
ENTRYPOINT ["overstap", "serve", "--host", "0.0.0.0", "--port", "8080", "--data-dir", "/data"]
CMD ["--downstream", "http://zaaksysteem:8080/soap"]
