// Package splitbrain is the split-brain drill: the leader of the target
// partition is cut off from its peers (mode partition: it keeps running and
// keeps serving clients) or frozen (mode pause), not killed, while writes
// go on through every node and through the old leader itself. It measures
// how long the old leader takes to stop acknowledging, how long the
// majority takes to elect a new one and to accept writes, and how long the
// old leader takes to catch up once healed; then it reads everything back.
// An old leader that acknowledges writes after its step-down deadline, while
// the majority follows another leader, is ack-without-quorum, whatever
// became of those writes; the writes themselves are judged like any other.
package splitbrain
