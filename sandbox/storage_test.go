package sandbox

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// batchOf is one v2 batch of records with the given values.
func batchOf(values ...string) []byte {
	var recs []kmsg.Record
	for i, v := range values {
		recs = append(recs, kmsg.Record{OffsetDelta: int32(i), Value: []byte(v)})
	}
	return encodeBatch(kmsg.RecordBatch{Magic: 2, LastOffsetDelta: int32(len(values) - 1), ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1}, recs)
}

func entry(index, term uint64, values ...string) *pb.Entry {
	return &pb.Entry{Index: proto.Uint64(index), Term: proto.Uint64(term), Type: pb.EntryNormal.Enum(),
		Data: encodeRecordsEntry(index, directives{}, batchOf(values...))}
}

func entries(from, to, term uint64) []*pb.Entry {
	var out []*pb.Entry
	for i := from; i <= to; i++ {
		out = append(out, entry(i, term, "v"+strconv.FormatUint(i, 10), "w"))
	}
	return out
}

type storeState struct {
	first, last uint64
	commit      uint64
	termOf      map[uint64]uint64
	next        int64 // Kafka offset after the last entry
	start       int64 // log start offset
}

func stateOf(t *testing.T, s *logStore) storeState {
	t.Helper()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	hs, _, _ := s.InitialState()
	st := storeState{first: first, last: last, commit: hs.GetCommit(), termOf: map[uint64]uint64{}, next: s.offsetsAt(last), start: s.logStart()}
	for i := first; i <= last; i++ {
		st.termOf[i], _ = s.Term(i)
	}
	ents, err := s.Entries(first, last+1, 1<<30)
	if err != nil {
		t.Fatalf("entries %d..%d: %v", first, last, err)
	}
	if uint64(len(ents)) != last+1-first {
		t.Fatalf("%d entries read back, want %d", len(ents), last+1-first)
	}
	return st
}

// The log reads back from disk as it was written: after overwrites,
// compaction across segments, a leader's snapshot over stale entries, and
// a torn last write.
func TestLogStoreReplay(t *testing.T) {
	cases := []struct {
		name  string
		write func(t *testing.T, s *logStore)
		want  func(st storeState) bool
	}{
		{"appends and a hard state", func(t *testing.T, s *logStore) {
			mustAppend(t, s, entries(1, 10, 1))
			s.setHardState(&pb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(7)})
		}, func(st storeState) bool {
			return st.first == 1 && st.last == 10 && st.commit == 7 && st.next == 20
		}},
		{"a new leader's entries replace a suffix", func(t *testing.T, s *logStore) {
			mustAppend(t, s, entries(1, 10, 1))
			mustAppend(t, s, entries(6, 8, 2))
		}, func(st storeState) bool {
			return st.last == 8 && st.termOf[6] == 2 && st.termOf[5] == 1 && st.next == 16
		}},
		{"compaction over several segments", func(t *testing.T, s *logStore) {
			for i := uint64(1); i <= 100; i += 10 {
				mustAppend(t, s, entries(i, i+9, 1))
			}
			if err := s.compact(60, nil); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, entries(101, 105, 1))
		}, func(st storeState) bool {
			return st.first == 61 && st.last == 105 && st.start == 120 && st.next == 210
		}},
		{"a leader's snapshot over stale entries", func(t *testing.T, s *logStore) {
			mustAppend(t, s, entries(1, 30, 1))
			snap := &pb.Snapshot{Data: joinSnapData(40, nil), Metadata: &pb.SnapshotMetadata{
				Index: proto.Uint64(20), Term: proto.Uint64(3), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
			if err := s.applySnapshot(snap); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, entries(21, 22, 3))
		}, func(st storeState) bool {
			return st.first == 21 && st.last == 22 && st.start == 40 && st.next == 44 && st.termOf[22] == 3
		}},
		{"a leader's snapshot, nothing after it", func(t *testing.T, s *logStore) {
			mustAppend(t, s, entries(1, 30, 1))
			snap := &pb.Snapshot{Data: joinSnapData(40, nil), Metadata: &pb.SnapshotMetadata{
				Index: proto.Uint64(20), Term: proto.Uint64(3), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
			if err := s.applySnapshot(snap); err != nil {
				t.Fatal(err)
			}
		}, func(st storeState) bool {
			return st.first == 21 && st.last == 20 && st.start == 40 && st.next == 40
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, fresh, err := openStore(dir, storeOptions{fsync: true, segmentBytes: 4 << 10}, []uint64{1, 2, 3})
			if err != nil || !fresh {
				t.Fatalf("open: %v fresh %v", err, fresh)
			}
			tc.write(t, s)
			if err := s.sync(true); err != nil {
				t.Fatal(err)
			}
			before := stateOf(t, s)
			if !tc.want(before) {
				t.Fatalf("before restart: %+v", before)
			}
			s.close(false)
			s2, fresh, err := openStore(dir, storeOptions{fsync: true, segmentBytes: 4 << 10}, nil)
			if err != nil || fresh {
				t.Fatalf("reopen: %v fresh %v", err, fresh)
			}
			defer s2.close(false)
			after := stateOf(t, s2)
			if !tc.want(after) {
				t.Fatalf("after restart: %+v (before: %+v)", after, before)
			}
			if _, cs, _ := s2.InitialState(); len(cs.GetVoters()) != 3 {
				t.Fatalf("voters %v", cs.GetVoters())
			}
		})
	}
}

// A write a crash cut short is dropped; what came before stays.
func TestLogStoreTornTail(t *testing.T) {
	dir := t.TempDir()
	s, _, err := openStore(dir, storeOptions{fsync: true}, []uint64{1})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, entries(1, 5, 1))
	if err := s.sync(true); err != nil {
		t.Fatal(err)
	}
	s.close(false)
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	f, err := os.OpenFile(names[len(names)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte{0, 0, 1, 0, 1, 2, 3}) // half a record header
	f.Close()
	s2, _, err := openStore(dir, storeOptions{fsync: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.close(false)
	if st := stateOf(t, s2); st.last != 5 || st.next != 10 {
		t.Fatalf("after a torn write: %+v", st)
	}
	mustAppend(t, s2, entries(6, 6, 1))
	if err := s2.sync(true); err != nil {
		t.Fatal(err)
	}
}

// With fsync "never" the buffer waits for the flush interval; a close
// without flushing (a kill) loses it.
func TestLogStoreUnflushedBufferIsLostOnKill(t *testing.T) {
	dir := t.TempDir()
	s, _, err := openStore(dir, storeOptions{flushInterval: 1 << 62}, []uint64{1})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, entries(1, 3, 1))
	if err := s.persist(true); err != nil {
		t.Fatal(err)
	}
	if st := stateOf(t, s); st.last != 3 {
		t.Fatalf("before the kill: %+v", st)
	}
	s.close(false)
	s2, _, err := openStore(dir, storeOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.close(false)
	if st := stateOf(t, s2); st.last != 0 {
		t.Fatalf("after the kill the unflushed entries survived: %+v", st)
	}
}

func mustAppend(t *testing.T, s *logStore, ents []*pb.Entry) {
	t.Helper()
	if err := s.append(ents); err != nil {
		t.Fatal(err)
	}
}
