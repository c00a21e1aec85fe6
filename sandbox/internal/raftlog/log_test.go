package raftlog

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// The tests' entries have a data format of their own: a byte that says how
// many Kafka offsets the entry takes (one per value), then the values.
func countValues(data []byte) (int64, int64) {
	if len(data) == 0 {
		return 0, -1
	}
	return int64(data[0]), -1
}

func values(data []byte) []string { return strings.Split(string(data[1:]), ",") }

func entry(index, term uint64, values ...string) *pb.Entry {
	data := append([]byte{byte(len(values))}, strings.Join(values, ",")...)
	return &pb.Entry{Index: proto.Uint64(index), Term: proto.Uint64(term), Type: pb.EntryNormal.Enum(), Data: data}
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

func stateOf(t *testing.T, s *Log) storeState {
	t.Helper()
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	hs, _, _ := s.InitialState()
	st := storeState{first: first, last: last, commit: hs.GetCommit(), termOf: map[uint64]uint64{}, next: s.OffsetsAt(last), start: s.LogStart()}
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
func TestLogReplay(t *testing.T) {
	cases := []struct {
		name  string
		write func(t *testing.T, s *Log)
		want  func(st storeState) bool
	}{
		{"appends and a hard state", func(t *testing.T, s *Log) {
			mustAppend(t, s, entries(1, 10, 1))
			s.SetHardState(&pb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(7)})
		}, func(st storeState) bool {
			return st.first == 1 && st.last == 10 && st.commit == 7 && st.next == 20
		}},
		{"a new leader's entries replace a suffix", func(t *testing.T, s *Log) {
			mustAppend(t, s, entries(1, 10, 1))
			mustAppend(t, s, entries(6, 8, 2))
		}, func(st storeState) bool {
			return st.last == 8 && st.termOf[6] == 2 && st.termOf[5] == 1 && st.next == 16
		}},
		{"compaction over several segments", func(t *testing.T, s *Log) {
			for i := uint64(1); i <= 100; i += 10 {
				mustAppend(t, s, entries(i, i+9, 1))
			}
			if err := s.Compact(60, nil); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, entries(101, 105, 1))
		}, func(st storeState) bool {
			return st.first == 61 && st.last == 105 && st.start == 120 && st.next == 210
		}},
		{"a leader's snapshot over stale entries", func(t *testing.T, s *Log) {
			mustAppend(t, s, entries(1, 30, 1))
			snap := &pb.Snapshot{Data: joinSnapData(40, nil), Metadata: &pb.SnapshotMetadata{
				Index: proto.Uint64(20), Term: proto.Uint64(3), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
			if err := s.ApplySnapshot(snap); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, entries(21, 22, 3))
		}, func(st storeState) bool {
			return st.first == 21 && st.last == 22 && st.start == 40 && st.next == 44 && st.termOf[22] == 3
		}},
		{"a leader's snapshot, nothing after it", func(t *testing.T, s *Log) {
			mustAppend(t, s, entries(1, 30, 1))
			snap := &pb.Snapshot{Data: joinSnapData(40, nil), Metadata: &pb.SnapshotMetadata{
				Index: proto.Uint64(20), Term: proto.Uint64(3), ConfState: &pb.ConfState{Voters: []uint64{1, 2, 3}}}}
			if err := s.ApplySnapshot(snap); err != nil {
				t.Fatal(err)
			}
		}, func(st storeState) bool {
			return st.first == 21 && st.last == 20 && st.start == 40 && st.next == 40
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			s, fresh, err := Open(dir, Options{Fsync: true, SegmentBytes: 4 << 10, Count: countValues}, []uint64{1, 2, 3})
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
			s.Close(false)
			s2, fresh, err := Open(dir, Options{Fsync: true, SegmentBytes: 4 << 10, Count: countValues}, nil)
			if err != nil || fresh {
				t.Fatalf("reopen: %v fresh %v", err, fresh)
			}
			defer s2.Close(false)
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
func TestLogTornTail(t *testing.T) {
	dir := t.TempDir()
	s, _, err := Open(dir, Options{Fsync: true, Count: countValues}, []uint64{1})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, entries(1, 5, 1))
	if err := s.sync(true); err != nil {
		t.Fatal(err)
	}
	s.Close(false)
	names, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	f, err := os.OpenFile(names[len(names)-1], os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write([]byte{0, 0, 1, 0, 1, 2, 3}) // half a record header
	f.Close()
	s2, _, err := Open(dir, Options{Fsync: true, Count: countValues}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(false)
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
func TestLogUnflushedBufferIsLostOnKill(t *testing.T) {
	dir := t.TempDir()
	s, _, err := Open(dir, Options{FlushInterval: 1 << 62, Count: countValues}, []uint64{1})
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, s, entries(1, 3, 1))
	if err := s.Persist(true); err != nil {
		t.Fatal(err)
	}
	if st := stateOf(t, s); st.last != 3 {
		t.Fatalf("before the kill: %+v", st)
	}
	s.Close(false)
	s2, _, err := Open(dir, Options{Count: countValues}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close(false)
	if st := stateOf(t, s2); st.last != 0 {
		t.Fatalf("after the kill the unflushed entries survived: %+v", st)
	}
}

func mustAppend(t *testing.T, s *Log, ents []*pb.Entry) {
	t.Helper()
	if err := s.Append(ents); err != nil {
		t.Fatal(err)
	}
}

// A read by Kafka offset starts at the entry that holds the offset, skips
// the entries that take none, and stops once maxBytes are served (after
// one entry at least); a new leader's entries that replace a suffix hand
// the replaced ones to OnTruncate.
func TestLogReadsByOffset(t *testing.T) {
	var removed []Entry
	s, _, err := Open(t.TempDir(), Options{Fsync: true, Count: countValues, OnTruncate: func(r []Entry) { removed = append(removed, r...) }}, []uint64{1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(false)
	// Offsets 0..9 in entries 1..5, none in 6, 10 in 7.
	ents := append(entries(1, 5, 1), &pb.Entry{Index: proto.Uint64(6), Term: proto.Uint64(1), Type: pb.EntryNormal.Enum()}, entry(7, 1, "x"))
	mustAppend(t, s, ents)
	read := func(from, end int64, maxBytes int) []uint64 {
		t.Helper()
		var got []uint64
		_, err := s.ReadRecords(nil, from, end, maxBytes, func(dst []byte, e Entry) ([]byte, error) {
			got = append(got, e.Index)
			return append(dst, e.Data[1:]...), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	for _, tc := range []struct {
		from, end int64
		maxBytes  int
		want      []uint64
	}{
		{3, 11, 1 << 20, []uint64{2, 3, 4, 5, 7}},
		{3, 6, 1 << 20, []uint64{2, 3}},
		{3, 11, 1, []uint64{2}},
		{10, 11, 1 << 20, []uint64{7}},
	} {
		if got := read(tc.from, tc.end, tc.maxBytes); !slices.Equal(got, tc.want) {
			t.Errorf("read [%d, %d) max %d: entries %v, want %v", tc.from, tc.end, tc.maxBytes, got, tc.want)
		}
	}
	var bases []int64
	if err := s.Scan(1, 7, func(e Entry) error { bases = append(bases, e.Base); return nil }); err != nil {
		t.Fatal(err)
	}
	if want := []int64{0, 2, 4, 6, 8, 10}; !slices.Equal(bases, want) {
		t.Errorf("scan: bases %v, want %v", bases, want)
	}
	mustAppend(t, s, entries(4, 4, 2))
	var idx []uint64
	for _, e := range removed {
		idx = append(idx, e.Index)
	}
	if !slices.Equal(idx, []uint64{4, 5, 6, 7}) || removed[0].Base != 6 || !slices.Equal(values(removed[3].Data), []string{"x"}) {
		t.Errorf("truncated %+v", removed)
	}
	if next := s.OffsetsAt(4); next != 8 {
		t.Errorf("offsets after the new entry 4: %d, want 8", next)
	}
}
