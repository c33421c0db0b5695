# Overstap sidecar: `overstap serve` in a slim, non-root container with its outbox on a volume.
#
#   make image                      (podman build --format docker, or docker build)
#   docker run --stop-timeout 45 -p 8080:8080 -v overstap-data:/data overstap \
#       --downstream http://zaaksysteem:8080/soap
#
# See docs/deploy-sidecar.md for the compose example beside a legacy system, TLS/mTLS and the config file.
# The official StUF/iWmo schemas are not in the image (their licence is not ours): mount them and set
# OVERSTAP_REFERENCE_DIR to validate every canonical message before it is acknowledged; with
# `validate: true` on a route a missing schema folder is a start-up error instead of "not validated".
# Needs BuildKit (docker >= 23 default) or podman/buildah for RUN --mount.
# The build stage compiles the native mapping walk and creeerZaak writer (native/build.py, as `make venv` does)
# with a C compiler that stays in that stage; the image carries only the two built modules and refuses to build
# when either does not load, so it never runs the slower Python walk and writer unnoticed (its ready line says
# `mapping walk native, zkn writer native`).

FROM python:3.11-slim AS build
WORKDIR /src
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md constraints.txt ./
COPY gateway ./gateway
COPY dialects ./dialects
COPY mappings ./mappings
COPY native ./native
# Every dependency at the version in constraints.txt: the same inputs build the same image. With the
# postgresql extra (psycopg): replicas keep their store in PostgreSQL (`--store`, env OVERSTAP_STORE).
RUN pip wheel --no-cache-dir --wheel-dir /wheels -c constraints.txt '.[postgresql]'
# The native walk and writer, against the headers of the lxml the image installs (the same wheel), each stamped
# with its source's SHA-256 (a module built from another source is refused where it is loaded).
RUN pip install --no-cache-dir --no-index --find-links /wheels -c constraints.txt lxml \
 && pip install --no-cache-dir -c constraints.txt Cython setuptools \
 && python native/build.py --require \
 && mkdir -p /native/mapping /native/render \
 && cp gateway/mapping/_native.*.so /native/mapping/ \
 && cp gateway/render/_zkn_native.*.so /native/render/ \
 && sha256sum /wheels/*.whl /native/*/*.so > /native/build.sha256

FROM python:3.11-slim
# OVERSTAP_HOST/PORT/DATA_DIR are defaults for `serve` and `outbox`: a flag overrides them, and with
# --config the file's listen: and data_dir: win. `serve` writes its real health URL to
# OVERSTAP_HEALTH_FILE, which the health check reads (so it follows --port and TLS).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    OVERSTAP_HOST=0.0.0.0 \
    OVERSTAP_PORT=8080 \
    OVERSTAP_DATA_DIR=/data \
    OVERSTAP_HEALTH_FILE=/tmp/overstap-health-url
RUN groupadd --system --gid 10001 overstap \
 && useradd --system --uid 10001 --gid overstap --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin overstap \
 && mkdir /data && chown overstap:overstap /data
# What the build stage made, by SHA-256 (kept in the image as its provenance). Copied before the install so that
# the install runs again whenever it changed: buildah/podman key a RUN's cache on its command, not on the files
# it bind-mounts, and reused a layer holding the previous code.
COPY --from=build /native/build.sha256 /usr/share/overstap/build.sha256
# The wheels are bind-mounted from the build stage, never copied into a layer of this image. The wheel is
# py3-none-any (it leaves local builds out); the two native modules go beside their sources in the installed
# package, and the build fails unless both load as the gateway loads them.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    --mount=type=bind,from=build,source=/src/constraints.txt,target=/constraints.txt \
    --mount=type=bind,from=build,source=/native,target=/native \
    pip install --no-cache-dir --no-index --find-links /wheels -c /constraints.txt 'overstap[postgresql]' \
 && package="$(python -c 'import gateway, os; print(os.path.dirname(gateway.__file__))')" \
 && cp /native/mapping/*.so "$package/mapping/" \
 && cp /native/render/*.so "$package/render/" \
 && python -c 'from gateway.mapping import walkgen; from gateway.render import writers; \
assert walkgen.NATIVE, walkgen.NATIVE_MISSING; assert writers.native is not None, writers.MISSING; \
print("native walk and zkn writer load")'
USER overstap:overstap
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8080
# /healthz answers once the outbox and the forwarder run; behind mTLS set OVERSTAP_HEALTH_CA,
# OVERSTAP_HEALTH_CERT and OVERSTAP_HEALTH_KEY (OVERSTAP_HEALTH_URL overrides the written URL).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "gateway.proxy.healthcheck"]
# SIGTERM (docker stop) makes the sidecar stop accepting, finish the deliveries in flight (up to
# shutdown_grace, 30 s) and flush the outbox: run it with --stop-timeout 45 (compose: stop_grace_period: 45s).
STOPSIGNAL SIGTERM
ENTRYPOINT ["overstap", "serve"]
CMD ["--downstream", "http://zaaksysteem:8080/soap"]
