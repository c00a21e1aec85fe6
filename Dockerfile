# syntax=docker/dockerfile:1
# Build a static raftdrill binary and ship it alone in a distroless image
# that runs as an unprivileged user.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=""
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${COMMIT}" \
      -o /out/raftdrill . \
 && /out/raftdrill version \
 && mkdir -p /out/state

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/raftdrill /usr/local/bin/raftdrill
# The state directory: run history, alert outbox, and the restore journal
# that lets a restarted raftdrill bring back a node its predecessor left
# down. Mount a persistent volume here; set RAFTDRILL_STATE_DIR to move it.
COPY --from=build --chown=65532:65532 /out/state /var/lib/raftdrill
ENV RAFTDRILL_STATE_DIR=/var/lib/raftdrill
VOLUME ["/var/lib/raftdrill"]
USER nonroot:nonroot
EXPOSE 9479
# Mount a config at /etc/raftdrill/raftdrill.yaml (and any *_file secrets
# beside it); examples/container.yaml is a start. Its server.listen must be
# 0.0.0.0:9479, since loopback is unreachable from outside the container,
# and POST /trigger stays disabled there unless server.auth_token_file is
# set. Without a mounted config the daemon refuses to start (exit 2).
ENTRYPOINT ["/usr/local/bin/raftdrill"]
CMD ["serve", "--config", "/etc/raftdrill/raftdrill.yaml"]
