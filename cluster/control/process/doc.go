// Package process is the node controller for nodes that run as local
// processes: it starts each from a command template (no shell), kills the
// node's whole process group with SIGKILL, and starts it again with the same
// command line, environment and log file.
package process
