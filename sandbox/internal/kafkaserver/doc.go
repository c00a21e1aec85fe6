// Package kafkaserver is a sandbox node's Kafka front end: it accepts
// client connections, runs the TLS handshake and the SASL exchange (PLAIN,
// SCRAM-SHA-256, SCRAM-SHA-512) a listener demands, reads request frames,
// answers ApiVersions itself and hands every other request to the node in a
// goroutine of its own, and sends the answers back in request order, as a
// Kafka broker does. The message formats are franz-go's kmsg; what a
// request means is the node's (the sandbox's handlers.go). Stopping a
// server closes every socket at once, as a killed process's close.
package kafkaserver
