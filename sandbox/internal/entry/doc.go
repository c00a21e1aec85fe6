// Package entry is the format of the data of the sandbox's Raft entries:
// a kind and the id of the proposal that made it, then a partition's
// records (as the producer sent them, with the fault directives that ride
// along), a range of offsets lost for good, or a metadata command. Every
// replica applies the same entries, so what they carry is applied alike
// everywhere, at the same point of the log.
package entry
