# syntax=docker/dockerfile:1
# raftdrill's images: one static binary, two targets.
#
#   docker build .                  the default image: distroless static,
#                                   nonroot (uid 65532), no shell. Enough for the
#                                   sandbox and kubernetes controllers.
#   docker build --target exec .    Debian bookworm-slim with /bin/sh, ssh,
#                                   kubectl and CA certificates, nonroot (uid
#                                   65532), for the exec controller.
#
# Each examples/*.yaml says on its first lines which image it needs
# ("# image: default", "# image: exec"; "none" for the process controller,
# whose servers neither image holds). `make check-static` builds the binary
# exactly as the build stage below does and checks every example with it as
# uid 65532; config/examples_test.go checks the examples' commands against
# what the exec image ships, and this file against those promises.
#
# Both images keep raftdrill's state in /var/lib/raftdrill (RAFTDRILL_STATE_DIR
# sets state.dir there), owned by 65532, the working directory: the run
# history, the alert outbox, and the restore journal that lets a restarted
# raftdrill bring back a node its predecessor left down. Mount a persistent
# volume there (deploy/ does).

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=""
ARG BRANCH=""
# As `make check-static` builds it: no cgo (static), -trimpath, -tags
# kubernetes (the kubernetes controller and ha.kubernetes, client-go), and
# the Makefile's -ldflags for prometheus/common/version.
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -tags kubernetes \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${COMMIT} -X github.com/prometheus/common/version.Branch=${BRANCH}" \
      -o /out/raftdrill . \
 && /out/raftdrill version \
 && mkdir -p /out/varlib/raftdrill \
 && chmod 0750 /out/varlib/raftdrill

# kubectl for the exec image: an upstream release (Debian's kubernetes-client
# is 1.20), the same Kubernetes release as client-go in go.mod, checked
# against its sha256. Pin the sums with --build-arg KUBECTL_SHA256_AMD64=…
# (and _ARM64) from https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/<arch>/kubectl.sha256;
# without a pinned sum the build checks the one published beside the binary.
FROM golang:1.26-bookworm AS kubectl
ARG TARGETARCH
ARG KUBECTL_VERSION=v1.37.2
ARG KUBECTL_SHA256_AMD64=""
ARG KUBECTL_SHA256_ARM64=""
RUN set -eu; \
    arch="${TARGETARCH:-$(dpkg --print-architecture)}"; \
    case "$arch" in \
      amd64) pinned="$KUBECTL_SHA256_AMD64" ;; \
      arm64) pinned="$KUBECTL_SHA256_ARM64" ;; \
      *) echo "kubectl: no release for $arch" >&2; exit 1 ;; \
    esac; \
    url="https://dl.k8s.io/release/${KUBECTL_VERSION}/bin/linux/${arch}/kubectl"; \
    curl -fsSL --retry 3 -o /kubectl "$url"; \
    sum="${pinned:-$(curl -fsSL --retry 3 "$url.sha256")}"; \
    echo "${sum}  /kubectl" | sha256sum --check --strict; \
    chmod 0755 /kubectl; \
    /kubectl version --client

# The exec image: the exec controller runs each command with /bin/sh -c
# (dash here); commands reach VMs with ssh and Kubernetes with kubectl. Home
# is the state directory, so ssh's known_hosts and kubectl's cache land on
# the writable volume; give ssh its key and known_hosts explicitly (-i,
# -o UserKnownHostsFile=) from a read-only mount, as deploy/compose does.
FROM debian:bookworm-slim AS exec
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 raftdrill \
 && useradd --uid 65532 --gid 65532 --home-dir /var/lib/raftdrill --no-create-home --shell /usr/sbin/nologin raftdrill \
 && install -d -o 65532 -g 65532 -m 0750 /var/lib/raftdrill
COPY --from=kubectl /kubectl /usr/local/bin/kubectl
COPY --from=build /out/raftdrill /usr/local/bin/raftdrill
ENV HOME=/var/lib/raftdrill RAFTDRILL_STATE_DIR=/var/lib/raftdrill
VOLUME ["/var/lib/raftdrill"]
WORKDIR /var/lib/raftdrill
USER 65532:65532
EXPOSE 9479
ENTRYPOINT ["/usr/local/bin/raftdrill"]
CMD ["serve", "--config", "/etc/raftdrill/raftdrill.yaml"]

# The default image (the last stage, so `docker build .` gives it).
FROM gcr.io/distroless/static-debian12:nonroot AS default
COPY --from=build /out/raftdrill /usr/local/bin/raftdrill
# /var/lib/raftdrill, owned by nonroot (65532): copied as an entry of /var/lib
# so that --chown applies to it and to nothing above it.
COPY --from=build --chown=65532:65532 /out/varlib/ /var/lib/
ENV RAFTDRILL_STATE_DIR=/var/lib/raftdrill
VOLUME ["/var/lib/raftdrill"]
WORKDIR /var/lib/raftdrill
USER 65532:65532
EXPOSE 9479
# Mount a config at /etc/raftdrill/raftdrill.yaml (and any *_file secrets
# beside it); examples/container.yaml is a start (the kubernetes controller).
# Its server.listen must be 0.0.0.0:9479, since loopback is unreachable from
# outside the container, and POST /trigger stays disabled there unless
# server.auth_token_file is set. Without a mounted config the daemon refuses
# to start (exit 2).
ENTRYPOINT ["/usr/local/bin/raftdrill"]
CMD ["serve", "--config", "/etc/raftdrill/raftdrill.yaml"]
