package raftlog

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"golang.org/x/sys/unix"
	"google.golang.org/protobuf/proto"
)

// Log is one Raft group's log on one node: a directory of segment
// files, each a sequence of records (entries, hard states, snapshots), and
// an in-memory index of the entries with their Kafka offsets. It implements
// raft.Storage.
//
// Writes go to a userspace buffer first. sync writes the buffer out and,
// with fsync "always", fsyncs it: the group loop calls it once per Raft
// Ready that must be durable, so one fsync covers every entry of that Ready
// (group commit). With fsync "never" the buffer is written out only every
// flush interval, and a kill discards it, as a power loss discards what an
// unsynced disk cache held.
//
// Record layout: [len u32][header crc u32][data crc u32][header][data],
// len counting everything after itself. Replay reads headers and skips
// data, so a restart costs a read of the index, not of the log.
type Log struct {
	dir  string
	opts Options

	mu       sync.RWMutex // guards everything below against readers (fetch)
	hs       *pb.HardState
	snap     snapMeta
	first    uint64 // index of metas[0]
	metas    []entryMeta
	segs     []*segment // oldest first; the last one is written
	buf      wbuf       // written after the last segment's flushed end
	cached   int64      // bytes of entry data held in metas[].ent
	cacheLo  uint64     // entries below this index hold no data in memory
	flushed  time.Time
	writeErr error
}

// Options shape a log.
type Options struct {
	Fsync         bool // fsync when a Ready must be durable
	SegmentBytes  int64
	FlushInterval time.Duration // fsync "never": how often the buffer is written out
	// Count is how many Kafka offsets an entry takes and the largest
	// timestamp of its records (ms), from its data; nil: entries take
	// none.
	Count func(data []byte) (count, maxTs int64)
	// OnTruncate learns of entries a new leader's log replaced: appended
	// here, never committed.
	OnTruncate func(removed []Entry)
}

// Bounds on what a log holds in memory: entry data beyond cacheBytes is
// dropped (oldest first) and read back from disk when needed; with fsync
// "never" a buffer of bufferLimit is written out before the flush
// interval is up.
const (
	cacheBytes  = 8 << 20
	bufferLimit = 4 << 20
)

// Entry is an entry of the log with the Kafka offsets it takes: one Raft
// removed from this node's log (Options.OnTruncate), or one read
// (ReadRecords, Scan).
type Entry struct {
	Index, Term uint64
	Base        int64 // the Kafka offset of its first record
	Data        []byte
}

type snapMeta struct {
	index, term uint64
	kafkaNext   int64 // the Kafka offset that follows the snapshot's entries
	voters      []uint64
	data        []byte // the state machine's own snapshot payload
}

type entryMeta struct {
	term  uint64
	seg   *segment
	pos   int64 // where the entry's data starts in seg
	size  int32
	crc   uint32
	typ   uint8
	base  int64 // Kafka offset of its first record
	count int32 // Kafka offsets it takes
	at    int64 // unix nanoseconds, when this node appended it
	maxTs int64 // largest record timestamp, ms
	ent   *pb.Entry
}

// end is the Kafka offset after the entry's records.
func (m *entryMeta) end() int64 { return m.base + int64(m.count) }

type segment struct {
	num      int
	f        *os.File
	size     int64 // including what is still buffered
	flushed  int64
	maxIndex uint64
}

const (
	recEntry     byte = 1
	recHardState byte = 2
	recSnapshot  byte = 3 // compaction: entries after its index stay
	recInstalled byte = 4 // a snapshot from the leader: every entry before it goes

	recPrefix      = 12 // len, header crc, data crc
	entryRecHdr    = 1 + 8 + 8 + 1 + 4 + 8 + 8
	hardStateHdr   = 1 + 8 + 8 + 8
	snapshotRecHdr = 1 + 8 + 8 + 8
)

var errStoreClosed = errors.New("log store closed")

var crc32c = crc32.MakeTable(crc32.Castagnoli)

func segName(num int) string { return fmt.Sprintf("%016d.seg", num) }

// Open opens (or creates) the log in dir, and reports whether it was new.
// voters is the group's membership, used when the log is new.
func Open(dir string, opts Options, voters []uint64) (*Log, bool, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = 64 << 20
	}
	if opts.Count == nil {
		opts.Count = func([]byte) (int64, int64) { return 0, -1 }
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, false, err
	}
	s := &Log{dir: dir, opts: opts, hs: &pb.HardState{}, first: 1, cacheLo: 1, flushed: time.Now()}
	names, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		return nil, false, err
	}
	sort.Strings(names)
	if len(names) == 0 {
		s.snap = snapMeta{voters: slices.Clone(voters)}
		if err := s.newSegment(0); err != nil {
			return nil, false, err
		}
		if err := s.sync(true); err != nil {
			s.Close(false)
			return nil, false, err
		}
		return s, true, nil
	}
	if err := s.replay(names); err != nil {
		s.Close(false)
		return nil, false, fmt.Errorf("replay %s: %w", dir, err)
	}
	return s, false, nil
}

// replay rebuilds the index from the segment files.
func (s *Log) replay(names []string) error {
	var start uint64 // index of metas[0] while replaying; 0 when empty
	haveSnap := false
	for i, name := range names {
		num, err := strconv.Atoi(strings.TrimSuffix(filepath.Base(name), ".seg"))
		if err != nil {
			return fmt.Errorf("segment name %s: %w", name, err)
		}
		f, err := os.OpenFile(name, os.O_RDWR, 0o644)
		if err != nil {
			return err
		}
		seg := &segment{num: num, f: f}
		s.segs = append(s.segs, seg)
		last := i == len(names)-1
		r := bufio.NewReaderSize(f, 256<<10)
		var pos int64
		for {
			recStart := pos
			var pre [recPrefix]byte
			if _, err := io.ReadFull(r, pre[:]); err != nil {
				if err == io.EOF {
					break
				}
				if !last {
					return fmt.Errorf("%s: torn record at %d", name, recStart)
				}
				break // a torn tail: the crash cut the last write
			}
			n := int64(binary.BigEndian.Uint32(pre[0:]))
			hcrc := binary.BigEndian.Uint32(pre[4:])
			dcrc := binary.BigEndian.Uint32(pre[8:])
			typ, err := r.Peek(1)
			if err != nil || n < 8+1 {
				if !last {
					return fmt.Errorf("%s: bad record at %d", name, recStart)
				}
				break
			}
			hlen := 0
			switch typ[0] {
			case recEntry:
				hlen = entryRecHdr
			case recHardState:
				hlen = hardStateHdr
			case recSnapshot, recInstalled:
				hlen = snapshotRecHdr
			default:
				if !last {
					return fmt.Errorf("%s: unknown record type %d at %d", name, typ[0], recStart)
				}
			}
			if hlen == 0 || n < int64(8+hlen) {
				break
			}
			hdr := make([]byte, hlen)
			if _, err := io.ReadFull(r, hdr); err != nil || crc32.Checksum(hdr, crc32c) != hcrc {
				if !last {
					return fmt.Errorf("%s: bad record header at %d", name, recStart)
				}
				break
			}
			dlen := n - 8 - int64(hlen)
			dataPos := recStart + recPrefix + int64(hlen)
			var data []byte
			// Entry data is skipped, except at the very end of the log,
			// where a crash may have cut it.
			needData := hdr[0] != recEntry || (last && dlen <= 1<<20)
			if needData {
				data = make([]byte, dlen)
				if _, err := io.ReadFull(r, data); err != nil || crc32.Checksum(data, crc32c) != dcrc {
					if !last {
						return fmt.Errorf("%s: bad record data at %d", name, recStart)
					}
					break
				}
			} else if k, err := r.Discard(int(dlen)); err != nil || int64(k) != dlen {
				if !last {
					return fmt.Errorf("%s: short record at %d", name, recStart)
				}
				break
			}
			pos = dataPos + dlen
			switch hdr[0] {
			case recEntry:
				idx := binary.BigEndian.Uint64(hdr[1:])
				m := entryMeta{
					term:  binary.BigEndian.Uint64(hdr[9:]),
					typ:   hdr[17],
					count: int32(binary.BigEndian.Uint32(hdr[18:])),
					at:    int64(binary.BigEndian.Uint64(hdr[22:])),
					maxTs: int64(binary.BigEndian.Uint64(hdr[30:])),
					seg:   seg, pos: dataPos, size: int32(dlen), crc: dcrc,
				}
				seg.maxIndex = max(seg.maxIndex, idx)
				switch {
				case len(s.metas) == 0 || idx < start || idx > start+uint64(len(s.metas)):
					// The first entry, or one after a gap left by a
					// deleted segment (a later snapshot record covers it).
					start, s.metas = idx, append(s.metas[:0], m)
				default:
					s.metas = append(s.metas[:idx-start], m)
				}
			case recHardState:
				s.hs = &pb.HardState{
					Term:   proto.Uint64(binary.BigEndian.Uint64(hdr[1:])),
					Vote:   proto.Uint64(binary.BigEndian.Uint64(hdr[9:])),
					Commit: proto.Uint64(binary.BigEndian.Uint64(hdr[17:])),
				}
			case recSnapshot, recInstalled:
				sm, err := decodeSnapRecord(hdr, data)
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				if !haveSnap || sm.index >= s.snap.index {
					s.snap, haveSnap = sm, true
				}
				if hdr[0] == recInstalled {
					// Whatever the log held before, the leader's
					// snapshot replaced.
					s.metas, start = s.metas[:0], 0
				}
				if len(s.metas) > 0 && start <= sm.index {
					if drop := sm.index + 1 - start; drop >= uint64(len(s.metas)) {
						s.metas, start = s.metas[:0], 0
					} else {
						s.metas, start = slices.Clone(s.metas[drop:]), sm.index+1
					}
				}
			}
		}
		seg.size, seg.flushed = pos, pos
		if fi, err := f.Stat(); err == nil && fi.Size() > pos {
			if err := f.Truncate(pos); err != nil {
				return err
			}
		}
	}
	if !haveSnap {
		return errors.New("no snapshot record: not a sandbox log")
	}
	s.first = s.snap.index + 1
	if len(s.metas) > 0 {
		switch {
		case start > s.first:
			return fmt.Errorf("entries %d..%d missing", s.first, start-1)
		case start < s.first:
			s.metas = s.metas[min(s.first-start, uint64(len(s.metas))):]
		}
	}
	next := s.snap.kafkaNext
	for i := range s.metas {
		s.metas[i].base = next
		next += int64(s.metas[i].count)
	}
	s.cacheLo = s.first + uint64(len(s.metas))
	// A log that lost its unsynced tail may end below the commit index it
	// once persisted; Raft cannot start from that.
	if last := s.lastIndex(); s.hs.GetCommit() > last {
		s.hs.Commit = proto.Uint64(last)
	}
	if s.hs.GetCommit() < s.snap.index {
		s.hs.Commit = proto.Uint64(s.snap.index)
	}
	return nil
}

func decodeSnapRecord(hdr, data []byte) (snapMeta, error) {
	sm := snapMeta{
		index:     binary.BigEndian.Uint64(hdr[1:]),
		term:      binary.BigEndian.Uint64(hdr[9:]),
		kafkaNext: int64(binary.BigEndian.Uint64(hdr[17:])),
	}
	if len(data) < 1 || len(data) < 1+8*int(data[0]) {
		return sm, errors.New("bad snapshot record")
	}
	for i := 0; i < int(data[0]); i++ {
		sm.voters = append(sm.voters, binary.BigEndian.Uint64(data[1+8*i:]))
	}
	sm.data = data[1+8*int(data[0]):]
	return sm, nil
}

// wbuf is what waits to be written: record headers, and entry data by
// reference (Raft's entries are never changed), written with one pwritev.
type wbuf struct {
	iovs [][]byte
	n    int
}

// putRecord adds a record to the buffer and returns where its data will
// be in the current segment. dcrc is the data's checksum.
func (s *Log) putRecord(hdr, data []byte, dcrc uint32) int64 {
	seg := s.segs[len(s.segs)-1]
	rec := make([]byte, recPrefix, recPrefix+len(hdr))
	binary.BigEndian.PutUint32(rec[0:], uint32(8+len(hdr)+len(data)))
	binary.BigEndian.PutUint32(rec[4:], crc32.Checksum(hdr, crc32c))
	binary.BigEndian.PutUint32(rec[8:], dcrc)
	rec = append(rec, hdr...)
	s.buf.iovs = append(s.buf.iovs, rec)
	if len(data) > 0 {
		s.buf.iovs = append(s.buf.iovs, data)
	}
	s.buf.n += len(rec) + len(data)
	dataPos := seg.size + int64(len(rec))
	seg.size += int64(len(rec) + len(data))
	return dataPos
}

// writeAt writes the buffers at off with as few pwritev calls as it can.
func writeAt(f *os.File, iovs [][]byte, off int64) error {
	fd := int(f.Fd())
	for len(iovs) > 0 {
		batch := iovs[:min(len(iovs), 1024)]
		n, err := unix.Pwritev(fd, batch, off)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return err
		}
		off += int64(n)
		// Skip what was written, keeping a partly written buffer's rest.
		for n > 0 && len(iovs) > 0 {
			if n >= len(iovs[0]) {
				n -= len(iovs[0])
				iovs = iovs[1:]
				continue
			}
			iovs[0] = iovs[0][n:]
			n = 0
		}
		for len(iovs) > 0 && len(iovs[0]) == 0 {
			iovs = iovs[1:]
		}
	}
	return nil
}

func (s *Log) putHardState(hs *pb.HardState) {
	var h [hardStateHdr]byte
	h[0] = recHardState
	binary.BigEndian.PutUint64(h[1:], hs.GetTerm())
	binary.BigEndian.PutUint64(h[9:], hs.GetVote())
	binary.BigEndian.PutUint64(h[17:], hs.GetCommit())
	s.putRecord(h[:], nil, 0)
}

func (s *Log) putSnapshot(sm snapMeta, installed bool) {
	var h [snapshotRecHdr]byte
	h[0] = recSnapshot
	if installed {
		h[0] = recInstalled
	}
	binary.BigEndian.PutUint64(h[1:], sm.index)
	binary.BigEndian.PutUint64(h[9:], sm.term)
	binary.BigEndian.PutUint64(h[17:], uint64(sm.kafkaNext))
	data := []byte{byte(len(sm.voters))}
	for _, v := range sm.voters {
		data = binary.BigEndian.AppendUint64(data, v)
	}
	data = append(data, sm.data...)
	s.putRecord(h[:], data, crc32.Checksum(data, crc32c))
}

// newSegment starts segment num; it opens with the snapshot and hard state
// so that older segments can go once compaction no longer needs them.
func (s *Log) newSegment(num int) error {
	f, err := os.OpenFile(filepath.Join(s.dir, segName(num)), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.segs = append(s.segs, &segment{num: num, f: f})
	s.putSnapshot(s.snap, false)
	s.putHardState(s.hs)
	s.mu.Unlock()
	if s.opts.Fsync {
		if d, err := os.Open(s.dir); err == nil {
			_ = d.Sync()
			d.Close()
		}
	}
	return nil
}

// Append stores entries from a Ready, replacing any conflicting suffix.
func (s *Log) Append(ents []*pb.Entry) error {
	if len(ents) == 0 {
		return nil
	}
	if err := s.maybeRotate(); err != nil {
		return err
	}
	now := time.Now().UnixNano()
	var removed []Entry
	s.mu.Lock()
	for _, e := range ents {
		idx := e.GetIndex()
		if idx < s.first {
			continue
		}
		last := s.lastIndex()
		if idx <= last {
			removed = append(removed, s.truncateLocked(idx)...)
		} else if idx != last+1 {
			s.mu.Unlock()
			return fmt.Errorf("append at %d leaves a gap after %d", idx, last)
		}
		data := e.GetData()
		count, maxTs := s.opts.Count(data)
		base := s.nextOffsetLocked()
		var h [entryRecHdr]byte
		h[0] = recEntry
		binary.BigEndian.PutUint64(h[1:], idx)
		binary.BigEndian.PutUint64(h[9:], e.GetTerm())
		h[17] = byte(e.GetType())
		binary.BigEndian.PutUint32(h[18:], uint32(count))
		binary.BigEndian.PutUint64(h[22:], uint64(now))
		binary.BigEndian.PutUint64(h[30:], uint64(maxTs))
		seg := s.segs[len(s.segs)-1]
		crc := crc32.Checksum(data, crc32c)
		pos := s.putRecord(h[:], data, crc)
		seg.maxIndex = max(seg.maxIndex, idx)
		s.metas = append(s.metas, entryMeta{
			term: e.GetTerm(), seg: seg, pos: pos, size: int32(len(data)), crc: crc,
			typ: byte(e.GetType()), base: base, count: int32(count), at: now, maxTs: maxTs, ent: e,
		})
		s.cached += int64(len(data))
	}
	s.evictLocked()
	s.mu.Unlock()
	if len(removed) > 0 && s.opts.OnTruncate != nil {
		s.opts.OnTruncate(removed)
	}
	return nil
}

// truncateLocked drops the entries from idx on and returns them.
func (s *Log) truncateLocked(idx uint64) []Entry {
	var out []Entry
	for i := idx; i <= s.lastIndex(); i++ {
		m := &s.metas[i-s.first]
		data, err := s.dataLocked(m)
		if err != nil {
			data = nil
		}
		out = append(out, Entry{Index: i, Term: m.term, Base: m.base, Data: data})
		if m.ent != nil {
			s.cached -= int64(m.size)
		}
	}
	s.metas = s.metas[:idx-s.first]
	s.cacheLo = min(s.cacheLo, idx)
	return out
}

// evictLocked drops entry data from memory, oldest first, once more than
// cacheBytes is held; what is still only in the buffer stays.
func (s *Log) evictLocked() {
	for s.cached > cacheBytes && s.cacheLo <= s.lastIndex() {
		if s.cacheLo < s.first {
			s.cacheLo = s.first
			continue
		}
		m := &s.metas[s.cacheLo-s.first]
		if m.ent != nil {
			if m.seg.flushed < m.pos+int64(m.size) {
				return
			}
			m.ent = nil
			s.cached -= int64(m.size)
		}
		s.cacheLo++
	}
}

func (s *Log) maybeRotate() error {
	s.mu.RLock()
	cur := s.segs[len(s.segs)-1]
	full := cur.size >= s.opts.SegmentBytes
	s.mu.RUnlock()
	if !full {
		return nil
	}
	if err := s.sync(true); err != nil {
		return err
	}
	return s.newSegment(cur.num + 1)
}

func (s *Log) SetHardState(hs *pb.HardState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hs = proto.Clone(hs).(*pb.HardState)
	s.putHardState(s.hs)
}

// ApplySnapshot replaces the whole log with a snapshot a leader sent.
func (s *Log) ApplySnapshot(snap *pb.Snapshot) error {
	md := snap.GetMetadata()
	sm := snapMeta{index: md.GetIndex(), term: md.GetTerm(), voters: slices.Clone(md.GetConfState().GetVoters())}
	sm.kafkaNext, sm.data = SplitSnapData(snap.GetData())
	s.mu.Lock()
	if sm.index <= s.snap.index {
		s.mu.Unlock()
		return nil
	}
	s.snap = sm
	s.first = sm.index + 1
	s.metas = nil
	s.cached = 0
	s.cacheLo = s.first
	s.putSnapshot(sm, true)
	s.mu.Unlock()
	if err := s.sync(true); err != nil {
		return err
	}
	s.dropSegments(true)
	return nil
}

// snapshot data is [kafkaNext i64][state machine payload].
func SplitSnapData(b []byte) (int64, []byte) {
	if len(b) < 8 {
		return 0, nil
	}
	return int64(binary.BigEndian.Uint64(b)), b[8:]
}

func joinSnapData(next int64, payload []byte) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(next)), payload...)
}

// Compact forgets the entries up to index (applied ones only) behind a
// snapshot that records where the Kafka offsets stand and the state
// machine's payload, and deletes the segments no longer needed.
func (s *Log) Compact(index uint64, payload []byte) error {
	s.mu.Lock()
	if index < s.first || index > s.lastIndex() {
		s.mu.Unlock()
		return nil
	}
	m := s.metas[index-s.first]
	sm := snapMeta{index: index, term: m.term, kafkaNext: m.end(), voters: s.snap.voters, data: payload}
	for i := s.first; i <= index; i++ {
		if e := &s.metas[i-s.first]; e.ent != nil {
			s.cached -= int64(e.size)
		}
	}
	s.metas = slices.Clone(s.metas[index+1-s.first:])
	s.first = index + 1
	s.cacheLo = max(s.cacheLo, s.first)
	s.snap = sm
	s.putSnapshot(sm, false)
	s.mu.Unlock()
	if err := s.sync(true); err != nil {
		return err
	}
	s.dropSegments(false)
	return nil
}

// dropSegments deletes the oldest segments while they hold nothing the log
// still needs; with all, every segment but the one written (after a
// leader's snapshot replaced the whole log).
func (s *Log) dropSegments(all bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(s.segs)-1 && (all || s.segs[n].maxIndex < s.first) {
		s.segs[n].f.Close()
		os.Remove(s.segs[n].f.Name())
		n++
	}
	s.segs = append(s.segs[:0], s.segs[n:]...)
}

// sync writes the buffer to the current segment and, when durable is true
// and the store fsyncs, waits for the disk. It is the group commit.
func (s *Log) sync(durable bool) error {
	s.mu.Lock()
	if s.writeErr != nil {
		s.mu.Unlock()
		return s.writeErr
	}
	buf := s.buf
	if buf.n == 0 && !durable {
		s.mu.Unlock()
		return nil
	}
	s.buf = wbuf{iovs: make([][]byte, 0, len(buf.iovs))}
	seg := s.segs[len(s.segs)-1]
	at := seg.flushed
	s.mu.Unlock()
	if buf.n > 0 {
		if err := writeAt(seg.f, buf.iovs, at); err != nil {
			s.failed(err)
			return err
		}
	}
	if durable && s.opts.Fsync {
		if err := unix.Fdatasync(int(seg.f.Fd())); err != nil {
			s.failed(err)
			return err
		}
	}
	s.mu.Lock()
	seg.flushed = at + int64(buf.n)
	s.flushed = time.Now()
	s.evictLocked()
	s.mu.Unlock()
	return nil
}

func (s *Log) failed(err error) {
	s.mu.Lock()
	s.writeErr = err
	s.mu.Unlock()
}

// Persist makes a Ready's writes as durable as the fsync policy says.
// With fsync "never" the buffer is written out only now and then.
func (s *Log) Persist(mustSync bool) error {
	if s.opts.Fsync {
		// Written out every Ready (a crash of the process loses
		// nothing), fsynced when Raft needs it durable.
		return s.sync(mustSync)
	}
	return s.FlushIfDue()
}

// WriteOut hands what was appended to the operating system, without an
// fsync, when the fsync policy is "always": from then a crash of the
// process loses none of it (a crash of the host may). With "never" the
// writes stay in the buffer until FlushIfDue.
func (s *Log) WriteOut() error {
	if !s.opts.Fsync {
		return nil
	}
	return s.sync(false)
}

// FlushIfDue writes the buffer out when it is large or old.
func (s *Log) FlushIfDue() error {
	s.mu.RLock()
	due := s.buf.n > 0 && (s.buf.n >= bufferLimit || time.Since(s.flushed) >= s.opts.FlushInterval)
	s.mu.RUnlock()
	if !due {
		return nil
	}
	return s.sync(false)
}

// Close closes the files. With flush false (a kill) the buffer is lost.
func (s *Log) Close(flush bool) {
	if flush && len(s.segs) > 0 {
		_ = s.sync(true)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, seg := range s.segs {
		seg.f.Close()
	}
	s.buf = wbuf{}
	s.writeErr = errStoreClosed
}

func (s *Log) lastIndex() uint64 { return s.first + uint64(len(s.metas)) - 1 }

func (s *Log) nextOffsetLocked() int64 {
	if len(s.metas) == 0 {
		return s.snap.kafkaNext
	}
	m := s.metas[len(s.metas)-1]
	return m.end()
}

// dataLocked returns an entry's data, from memory or from disk.
func (s *Log) dataLocked(m *entryMeta) ([]byte, error) {
	if m.ent != nil {
		return m.ent.GetData(), nil
	}
	data := make([]byte, m.size)
	if _, err := m.seg.f.ReadAt(data, m.pos); err != nil {
		return nil, fmt.Errorf("read entry data: %w", err)
	}
	if crc32.Checksum(data, crc32c) != m.crc {
		return nil, errors.New("entry data fails its checksum")
	}
	return data, nil
}

// raft.Storage.

func (s *Log) InitialState() (*pb.HardState, *pb.ConfState, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return proto.Clone(s.hs).(*pb.HardState), &pb.ConfState{Voters: slices.Clone(s.snap.voters)}, nil
}

func (s *Log) Entries(lo, hi, maxSize uint64) ([]*pb.Entry, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if lo < s.first {
		return nil, raft.ErrCompacted
	}
	if hi > s.lastIndex()+1 {
		return nil, raft.ErrUnavailable
	}
	var out []*pb.Entry
	var size uint64
	for i := lo; i < hi; i++ {
		m := &s.metas[i-s.first]
		e := m.ent
		if e == nil {
			data, err := s.dataLocked(m)
			if err != nil {
				return nil, err
			}
			e = &pb.Entry{Term: proto.Uint64(m.term), Index: proto.Uint64(i), Type: pb.EntryType(m.typ).Enum(), Data: data}
		}
		size += uint64(len(e.GetData())) + 16
		if len(out) > 0 && size > maxSize {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

func (s *Log) Term(i uint64) (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	switch {
	case i == s.snap.index:
		return s.snap.term, nil
	case i < s.first:
		return 0, raft.ErrCompacted
	case i > s.lastIndex():
		return 0, raft.ErrUnavailable
	}
	return s.metas[i-s.first].term, nil
}

func (s *Log) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastIndex(), nil
}

func (s *Log) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.first, nil
}

func (s *Log) Snapshot() (*pb.Snapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &pb.Snapshot{
		Data: joinSnapData(s.snap.kafkaNext, s.snap.data),
		Metadata: &pb.SnapshotMetadata{
			Index:     proto.Uint64(s.snap.index),
			Term:      proto.Uint64(s.snap.term),
			ConfState: &pb.ConfState{Voters: slices.Clone(s.snap.voters)},
		},
	}, nil
}

// Readers of the Kafka log.

// OffsetsAt is the Kafka offset that follows entry index (index at most the
// last index): the high watermark when index is the commit index.
func (s *Log) OffsetsAt(index uint64) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if index < s.first || len(s.metas) == 0 {
		return s.snap.kafkaNext
	}
	if index > s.lastIndex() {
		index = s.lastIndex()
	}
	m := s.metas[index-s.first]
	return m.end()
}

// LogStart is the first Kafka offset the log still holds.
func (s *Log) LogStart() int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.snap.kafkaNext
}

// BaseAt is the Kafka offset of the first record of the entry at index.
func (s *Log) BaseAt(index uint64) (base int64, ok bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if index < s.first || index > s.lastIndex() {
		return 0, false
	}
	return s.metas[index-s.first].base, true
}

// ReadRecords appends to dst the records of the entries from Kafka offset
// from up to (not including) offset end, at most maxBytes of them (but at
// least one entry's), as a fetch serves them: serve appends one entry's
// records to dst. Entries that take no offsets are skipped.
func (s *Log) ReadRecords(dst []byte, from, end int64, maxBytes int, serve func(dst []byte, e Entry) ([]byte, error)) ([]byte, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	// The first entry whose offsets reach past from.
	i := sort.Search(len(s.metas), func(i int) bool {
		m := &s.metas[i]
		return m.end() > from
	})
	start := len(dst)
	for ; i < len(s.metas); i++ {
		m := &s.metas[i]
		if m.base >= end {
			break
		}
		if m.count == 0 {
			continue
		}
		if len(dst)-start >= maxBytes && len(dst) > start {
			break
		}
		data, err := s.dataLocked(m)
		if err != nil {
			return dst, err
		}
		out, err := serve(dst, Entry{Index: s.first + uint64(i), Term: m.term, Base: m.base, Data: data})
		if err != nil {
			return dst, err
		}
		dst = out
	}
	return dst, nil
}

// Scan calls fn with each entry of [lo, hi] (Raft indexes) that takes
// Kafka offsets, in order, and stops at its first error.
func (s *Log) Scan(lo, hi uint64, fn func(e Entry) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	lo = max(lo, s.first)
	hi = min(hi, s.lastIndex())
	for i := lo; i <= hi && i >= s.first; i++ {
		m := &s.metas[i-s.first]
		if m.count == 0 {
			continue
		}
		data, err := s.dataLocked(m)
		if err != nil {
			return err
		}
		if err := fn(Entry{Index: i, Term: m.term, Base: m.base, Data: data}); err != nil {
			return err
		}
	}
	return nil
}

// OffsetForTime is the first offset whose batch has a timestamp at or
// after ts (ms), or the end of the committed log.
func (s *Log) OffsetForTime(ts int64, end int64) int64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for i := range s.metas {
		m := &s.metas[i]
		if m.base >= end {
			break
		}
		if m.count > 0 && m.maxTs >= ts {
			return m.base
		}
	}
	return end
}

// RetentionPoint is the last index at or below applied that may go: older
// than the retention time, or beyond the retention size counted from the
// newest entry. 0 when nothing may.
func (s *Log) RetentionPoint(applied uint64, olderThan time.Time, maxBytes int64) uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.metas) == 0 {
		return 0
	}
	applied = min(applied, s.lastIndex())
	var point uint64
	cut := olderThan.UnixNano()
	for i := s.first; i <= applied; i++ {
		if s.metas[i-s.first].at >= cut {
			break
		}
		point = i
	}
	if maxBytes > 0 {
		var total int64
		for i := s.lastIndex(); i >= s.first; i-- {
			total += int64(s.metas[i-s.first].size)
			if total > maxBytes {
				point = max(point, min(i, applied))
				break
			}
			if i == s.first {
				break
			}
		}
	}
	return point
}

// EntryCount is how many entries the log holds.
func (s *Log) EntryCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.metas)
}
