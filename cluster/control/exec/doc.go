// Package exec is the node controller for nodes controlled by shell
// commands (systemctl, kubectl, ssh, …): kill, restart and up are command
// templates run with /bin/sh -c in their own process group, bounded by a
// timeout, with errors that quote the command, its exit status and the tail
// of its stderr.
package exec
