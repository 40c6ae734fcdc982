# bnserve container: docker build -t bnserve . && docker run -p 50051:50051 bnserve
# Built from the same package list (deploy/packages-build.txt), install script
# and build script (deploy/build.sh) as the README and CI; the runtime stage
# carries only runtime libraries (deploy/packages-runtime.txt), the two
# binaries and the example repository. tests/dockerfile_test.sh keeps these
# promises checked without a Docker engine.

FROM debian:bookworm-slim AS build
WORKDIR /src
COPY deploy/packages-build.txt deploy/install-deps.sh deploy/
RUN bash deploy/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
RUN BNSERVE_BUILD_DIR=/build bash deploy/build.sh -DBNSERVE_BUILD_TESTS=OFF

FROM debian:bookworm-slim AS runtime
COPY deploy/packages-runtime.txt /tmp/packages-runtime.txt
RUN apt-get update \
 && grep -v '^\s*#' /tmp/packages-runtime.txt | grep -v '^\s*$' \
    | xargs apt-get install -y --no-install-recommends \
 && rm -rf /var/lib/apt/lists/* /tmp/packages-runtime.txt \
 && groupadd --system --gid 10001 bnserve \
 && useradd --system --uid 10001 --gid bnserve --home-dir /var/lib/bnserve --shell /usr/sbin/nologin bnserve
COPY --from=build /build/server/bnserve /build/client/bnctl /usr/local/bin/
COPY deploy/examples/repository /opt/bnserve/examples/repository
# The repository volume starts with the examples; Docker copies them into an
# empty named volume on first use.
RUN mkdir -p /var/lib/bnserve/models \
 && cp -r /opt/bnserve/examples/repository/. /var/lib/bnserve/models/ \
 && chown -R bnserve:bnserve /var/lib/bnserve
USER bnserve
VOLUME ["/var/lib/bnserve/models"]
# 50051: gRPC (bnserve.v1 and the Open Inference Protocol); 8000: HTTP
# (/metrics and the Open Inference Protocol's /v2 routes, docs/metrics.md).
EXPOSE 50051 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["bnctl", "--server", "127.0.0.1:50051", "--timeout", "2", "health"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["bnserve"]
CMD ["--listen", "0.0.0.0:50051", "--metrics-listen", "0.0.0.0:8000", "--model-repository", "/var/lib/bnserve/models", "--drain-seconds", "10"]
