// Package transport carries Raft messages between sandbox nodes over
// loopback TCP, as separate processes would need: two connections to each
// peer (appends, and everything small), a ping each heartbeat that says
// which groups the sender leads, links that can be cut as a firewall rule
// cuts them, and a link delay that holds each message as a network between
// brokers would. What a message means is the node's; the transport only
// delivers it, or drops it as a network may.
package transport
