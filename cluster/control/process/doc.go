// Package process is the node controller for nodes that run as local
// processes: it starts each from a command template (no shell), kills the
// node's whole process group with SIGKILL, and starts it again with the same
// command line, environment and log file. A pidfile per node (pid and
// process start time) lets a raftdrill started after one that died adopt
// the nodes it left running, or clean them up, never mistaking another
// process for one of them.
package process
