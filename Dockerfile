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
      -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
      -o /out/raftdrill . \
 && /out/raftdrill version

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/raftdrill /usr/local/bin/raftdrill
USER nonroot:nonroot
EXPOSE 9479
# Mount the config (and any *_file secrets) under /etc/raftdrill. With no
# config file the daemon drills its embedded sandbox, which is only useful
# for a first look; remember server.listen must not be loopback in a
# container, which disables POST /trigger unless server.auth_token_file is set.
ENTRYPOINT ["/usr/local/bin/raftdrill"]
CMD ["serve", "--config", "/etc/raftdrill/raftdrill.yaml"]
