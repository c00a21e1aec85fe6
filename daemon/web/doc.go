// Package web serves raftdrill's HTTP endpoints through the Prometheus
// exporter-toolkit, so that TLS (with client certificates if wanted), basic
// auth with bcrypt-hashed passwords, and extra security headers come from a
// standard web config file, the one Prometheus and node_exporter read
// (https://prometheus.io/docs/prometheus/latest/configuration/https/). The
// file is read again for each connection and request, so a renewed
// certificate or a changed password needs no restart. With no file it is
// plain HTTP.
package web
