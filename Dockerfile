# cma-orchestrator image: build with the Swift toolchain, run on a slim Debian.
#
#   docker build -t cma-orchestrator .
#   docker run --rm -p 8080:8080 --env-file orchestrator.env cma-orchestrator
#
# The Swift runtime is linked statically, so the runtime stage needs only the C
# libraries below; the ldd check fails the build if one is missing.

FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev zlib1g-dev libcurl4-openssl-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that a source change reuses the resolved checkouts.
# Package.* brings the committed Package.resolved, so the image builds the revisions CI
# tested. Package.swift also pins every dependency with `exact:`, and swift-atomics,
# which only swift-prometheus uses, is checked here (pinning it there would make
# SwiftPM warn on every build).
COPY Package.* ./
RUN swift package resolve \
 && swift package show-dependencies | grep -F 'swift-atomics.git@1.3.0>'
# Tests/ too: SwiftPM checks every target's folder when it loads the manifest.
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product cma-orchestrator --static-swift-stdlib \
 && install -D -m 0755 "$(swift build -c release --show-bin-path)/cma-orchestrator" /out/cma-orchestrator

FROM debian:bookworm-slim
# libcurl4: FoundationNetworking (URLSession) loads the system libcurl even with a
# static Swift runtime. ca-certificates: TLS to the Anthropic and Superserve APIs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 zlib1g libcurl4 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 cma \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin cma
COPY --from=build /out/cma-orchestrator /usr/local/bin/cma-orchestrator
# Only the files of the bundle that every launch uploads (runner/tests stays out, see .dockerignore).
COPY runner/ /opt/cma/runner/
COPY Public/ /opt/cma/Public/
RUN ! ldd /usr/local/bin/cma-orchestrator | grep 'not found'
ENV CMA_RUNNER_DIR=/opt/cma/runner CMA_PUBLIC_DIR=/opt/cma/Public
# libcurl4 pulls in librtmp1, which links GnuTLS; GnuTLS initialises itself (and reads
# its system configuration) when it is loaded, although nothing here ever uses it:
# TLS goes through libcurl's OpenSSL backend. Skipping that implicit initialisation
# keeps about 0.5 MB of resident memory per process.
ENV GNUTLS_NO_IMPLICIT_INIT=1
WORKDIR /opt/cma
# Numeric, so that Kubernetes' runAsNonRoot can verify it without a passwd lookup.
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["cma-orchestrator"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080"]
