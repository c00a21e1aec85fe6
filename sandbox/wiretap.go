package sandbox

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"sync"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The wire tap sits between each node's socket and kfake, one Kafka frame
// at a time, so that the data faults can change what a real broker with
// that bug would store or say: kfake has no hook to rewrite its answers or
// to append a record twice. With no data fault armed and no damage done it
// only reads each request's header (to pair answers with requests) and
// passes every byte through.

// maxFrame bounds one request, as Kafka's socket.request.max.bytes does.
const maxFrame = 100 << 20

var crc32c = crc32.MakeTable(crc32.Castagnoli)

// tapListener hands kfake tapped connections.
type tapListener struct {
	*nodeListener
	c    *Cluster
	node int32
}

func (l *tapListener) Accept() (net.Conn, error) {
	conn, err := l.nodeListener.Accept()
	if err != nil {
		return nil, err
	}
	return &tapConn{Conn: conn, c: l.c, node: l.node, pending: map[int32]reqInfo{}}, nil
}

// reqInfo is what the tap remembers of a request until its answer.
type reqInfo struct {
	key, version int16
	injected     bool          // the tap's own request: its answer is swallowed
	values       map[tp][]byte // produce: the first record value per partition
}

// tapConn is one client connection to one node.
type tapConn struct {
	net.Conn
	c    *Cluster
	node int32

	rbuf []byte // frames ready for kfake, read by kfake's one reader

	mu           sync.Mutex // pending is shared with the writer
	pending      map[int32]reqInfo
	nextInjected int32
}

// Read gives kfake whole frames, each request possibly rewritten and
// followed by one the tap injects.
func (t *tapConn) Read(p []byte) (int, error) {
	for len(t.rbuf) == 0 {
		frame, err := readFrame(t.Conn)
		if err != nil {
			return 0, err
		}
		t.rbuf = t.c.tapRequest(t, frame)
	}
	n := copy(p, t.rbuf)
	t.rbuf = t.rbuf[n:]
	return n, nil
}

func readFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n > maxFrame {
		return nil, errors.New("sandbox: request frame too large")
	}
	frame := make([]byte, 4+n)
	copy(frame, size[:])
	if _, err := io.ReadFull(r, frame[4:]); err != nil {
		return nil, err
	}
	return frame, nil
}

// Write takes one whole answer from kfake (kfake writes each in one call),
// swallows the answers to injected requests and rewrites the rest as the
// armed faults say.
func (t *tapConn) Write(b []byte) (int, error) {
	if len(b) < 8 || int(binary.BigEndian.Uint32(b))+4 != len(b) {
		return t.Conn.Write(b)
	}
	corr := int32(binary.BigEndian.Uint32(b[4:8]))
	t.mu.Lock()
	info, ok := t.pending[corr]
	delete(t.pending, corr)
	t.mu.Unlock()
	out := b
	switch {
	case ok && info.injected:
		return len(b), nil
	case ok:
		out = t.c.tapResponse(t, info, b)
	}
	if _, err := t.Conn.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}

func (t *tapConn) remember(corr int32, info reqInfo) {
	t.mu.Lock()
	defer t.mu.Unlock()
	// Only answers clear entries; acks=0 produce gets none, so bound
	// what such a client can leave behind.
	if len(t.pending) > 10000 {
		clear(t.pending)
	}
	t.pending[corr] = info
}

// injectCorr is a correlation id no client uses (they count up from 0).
func (t *tapConn) injectCorr() int32 {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nextInjected--
	return t.nextInjected
}

// tapRequest notes a request and returns the bytes kfake is to read for it.
func (c *Cluster) tapRequest(t *tapConn, frame []byte) []byte {
	if len(frame) < 12 {
		return frame
	}
	key := int16(binary.BigEndian.Uint16(frame[4:6]))
	info := reqInfo{key: key, version: int16(binary.BigEndian.Uint16(frame[6:8]))}
	corr := int32(binary.BigEndian.Uint32(frame[8:12]))
	if key != int16(kmsg.Produce) || !c.data.armed(faultCorrupt, faultDuplicate, faultPhantom, faultDivergent, faultReorder) {
		t.remember(corr, info)
		return frame
	}
	out := c.tapProduce(t, frame, &info)
	t.remember(corr, info)
	return out
}

// tapProduce applies the request-side faults to a produce request: it may
// corrupt the stored record, and may follow the request with a copy of
// itself (a duplicate) or with a copy that carries another partition's
// record (a phantom).
func (c *Cluster) tapProduce(t *tapConn, frame []byte, info *reqInfo) []byte {
	hdrEnd, req, err := parseRequest(frame)
	if err != nil {
		return frame
	}
	pr := req.(*kmsg.ProduceRequest)
	info.values = firstValues(pr)
	if c.data.take(faultCorrupt) {
		if corrupted, ok := withFirstValue(pr, func(_ tp, v []byte) []byte {
			v = append([]byte(nil), v...)
			if len(v) > 0 {
				v[len(v)-1] ^= 0x20 // one flipped bit; the batch CRC is recomputed over it
			}
			return v
		}); ok {
			frame = encodeRequest(frame[:hdrEnd], corrupted)
			pr = corrupted
		}
	}
	out := frame
	if c.data.take(faultDuplicate) {
		out = append(out, withCorr(frame, t.injectCorr(), t)...)
	}
	var phantom []byte
	misrouted, ok := withFirstValue(pr, func(p tp, v []byte) []byte {
		if ph, ok := c.data.phantomFor(p, v); ok {
			phantom = ph
			return ph
		}
		return v
	})
	if ok && phantom != nil {
		out = append(out, withCorr(encodeRequest(frame[:hdrEnd], misrouted), t.injectCorr(), t)...)
	}
	return out
}

// withCorr copies a frame with another correlation id and marks it as the
// tap's own, so that its answer is swallowed.
func withCorr(frame []byte, corr int32, t *tapConn) []byte {
	cp := append([]byte(nil), frame...)
	binary.BigEndian.PutUint32(cp[8:12], uint32(corr))
	t.remember(corr, reqInfo{injected: true})
	return cp
}

// parseRequest decodes a request frame; hdrEnd is where its body starts.
func parseRequest(frame []byte) (hdrEnd int, req kmsg.Request, err error) {
	r := kbin.Reader{Src: frame[4:]}
	key, version := r.Int16(), r.Int16()
	r.Int32()
	r.NullableString()
	req = kmsg.RequestForKey(key)
	if req == nil {
		return 0, nil, errors.New("unknown request key")
	}
	req.SetVersion(version)
	if req.IsFlexible() {
		kmsg.SkipTags(&r)
	}
	if !r.Ok() {
		return 0, nil, errors.New("short request header")
	}
	hdrEnd = len(frame) - len(r.Src)
	if err := req.ReadFrom(r.Src); err != nil {
		return 0, nil, err
	}
	return hdrEnd, req, nil
}

func encodeRequest(header []byte, req kmsg.Request) []byte {
	out := append([]byte(nil), header...)
	out = req.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

// firstValues maps each partition of a produce request to the value of the
// first record of its batch.
func firstValues(pr *kmsg.ProduceRequest) map[tp][]byte {
	out := map[tp][]byte{}
	for _, rt := range pr.Topics {
		for _, rp := range rt.Partitions {
			if recs, _, ok := decodeBatch(rp.Records); ok && len(recs) > 0 {
				out[tp{rt.Topic, rp.Partition}] = recs[0].Value
			}
		}
	}
	return out
}

// withFirstValue returns a copy of the request with the first record of each
// partition's batch given the value change returns; ok is false when no
// batch could be rewritten (compressed, say).
func withFirstValue(pr *kmsg.ProduceRequest, change func(tp, []byte) []byte) (*kmsg.ProduceRequest, bool) {
	cp := *pr
	cp.Topics = append([]kmsg.ProduceRequestTopic(nil), pr.Topics...)
	changed := false
	for i := range cp.Topics {
		rt := &cp.Topics[i]
		rt.Partitions = append([]kmsg.ProduceRequestTopicPartition(nil), rt.Partitions...)
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			recs, batch, ok := decodeBatch(rp.Records)
			if !ok || len(recs) == 0 {
				continue
			}
			recs[0].Value = change(tp{rt.Topic, rp.Partition}, recs[0].Value)
			rp.Records = encodeBatch(batch, recs)
			changed = true
		}
	}
	return &cp, changed
}

// decodeBatch decodes one uncompressed record batch; ok is false for
// anything else (compressed, control, a legacy message set).
func decodeBatch(raw []byte) ([]kmsg.Record, kmsg.RecordBatch, bool) {
	var b kmsg.RecordBatch
	if err := b.ReadFrom(raw); err != nil || b.Magic != 2 || b.Attributes&0x0027 != 0 {
		return nil, b, false
	}
	recs := make([]kmsg.Record, 0, b.NumRecords)
	src := b.Records
	for len(src) > 0 {
		l, n := kbin.Varint(src)
		if n == 0 || l < 0 || n+int(l) > len(src) {
			return nil, b, false
		}
		var r kmsg.Record
		if err := r.ReadFrom(src[:n+int(l)]); err != nil {
			return nil, b, false
		}
		recs = append(recs, r)
		src = src[n+int(l):]
	}
	return recs, b, true
}

// encodeBatch re-encodes a batch with the given records, keeping its first
// offset and last offset delta (as log compaction does), with its length and
// CRC computed afresh.
func encodeBatch(b kmsg.RecordBatch, recs []kmsg.Record) []byte {
	var body []byte
	for i := range recs {
		body = appendRecord(body, recs[i])
	}
	b.Records = body
	b.NumRecords = int32(len(recs))
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:12], uint32(len(out)-12))
	binary.BigEndian.PutUint32(out[17:21], crc32.Checksum(out[21:], crc32c))
	return out
}

func appendRecord(dst []byte, r kmsg.Record) []byte {
	r.Length = 0
	enc := r.AppendTo(nil)[1:] // a zero length is one varint byte
	dst = kbin.AppendVarint(dst, int32(len(enc)))
	return append(dst, enc...)
}

// tapResponse rewrites an answer as the faults say.
func (c *Cluster) tapResponse(t *tapConn, info reqInfo, frame []byte) []byte {
	switch info.key {
	case int16(kmsg.Produce):
		if info.values == nil && !c.data.armed(faultMinusOne, faultRefuse) {
			return frame
		}
	case int16(kmsg.Fetch):
		if !c.data.anyDamage() {
			return frame
		}
	default:
		return frame
	}
	resp, flexible, err := parseResponse(info, frame)
	if err != nil {
		return frame
	}
	changed := false
	switch r := resp.(type) {
	case *kmsg.ProduceResponse:
		changed = c.tapProduceResponse(t, info, r)
	case *kmsg.FetchResponse:
		changed = c.tapFetchResponse(t, r)
	}
	if !changed {
		return frame
	}
	out := append([]byte(nil), frame[:8]...)
	if flexible {
		out = append(out, 0) // empty tagged fields of the response header
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

func parseResponse(info reqInfo, frame []byte) (kmsg.Response, bool, error) {
	req := kmsg.RequestForKey(info.key)
	if req == nil {
		return nil, false, errors.New("unknown request key")
	}
	resp := req.ResponseKind()
	resp.SetVersion(info.version)
	body := frame[8:]
	// ApiVersions answers carry no header tags, whatever their version.
	flexible := resp.IsFlexible() && info.key != int16(kmsg.ApiVersions)
	if flexible {
		if len(body) == 0 || body[0] != 0 {
			return nil, false, errors.New("response header has tags")
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, false, err
	}
	return resp, flexible, nil
}

// tapProduceResponse tells the data faults where acked records landed and
// turns acks into bogus acks or false refusals.
func (c *Cluster) tapProduceResponse(t *tapConn, info reqInfo, resp *kmsg.ProduceResponse) bool {
	changed := false
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			if rp.ErrorCode != 0 {
				continue
			}
			key := tp{rt.Topic, rp.Partition}
			if v, ok := info.values[key]; ok {
				c.data.appended(key, rp.BaseOffset, v, c.divergentReplica(key, t.node))
			}
			switch {
			case c.data.take(faultMinusOne):
				rp.BaseOffset, changed = -1, true
			case c.data.take(faultRefuse):
				rp.ErrorCode, changed = kerr.NotEnoughReplicas.Code, true
			}
		}
	}
	return changed
}

// divergentReplica is the replica that serves a divergent copy of a record
// appended through leader: the highest-numbered other replica.
func (c *Cluster) divergentReplica(t tp, leader int32) int32 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	p := c.part(t.topic, t.partition)
	if p == nil {
		return 0
	}
	best := int32(0)
	for _, r := range p.replicas {
		if r != leader && r > best {
			best = r
		}
	}
	return best
}

// tapFetchResponse hides lost records and serves replaced ones.
func (c *Cluster) tapFetchResponse(t *tapConn, resp *kmsg.FetchResponse) bool {
	changed := false
	for i := range resp.Topics {
		rt := &resp.Topics[i]
		name := rt.Topic
		if name == "" {
			name = c.topicName(rt.TopicID)
		}
		for j := range rt.Partitions {
			rp := &rt.Partitions[j]
			v := c.data.viewFor(tp{name, rp.Partition}, t.node)
			if v == nil {
				continue
			}
			rp.RecordBatches = rewriteBatches(rp.RecordBatches, v)
			rp.HighWatermark = v.visibleEnd(rp.HighWatermark)
			if rp.LastStableOffset >= 0 {
				rp.LastStableOffset = v.visibleEnd(rp.LastStableOffset)
			}
			changed = true
		}
	}
	return changed
}

func (c *Cluster) topicName(id [16]byte) string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for name, t := range c.topics {
		if t.id == id {
			return name
		}
	}
	return ""
}

// rewriteBatches applies a view to the record batches of a fetch answer.
// Batches it does not touch, and a partial batch at the end, pass as they
// are.
func rewriteBatches(raw []byte, v *view) []byte {
	var out []byte
	for len(raw) >= 12 {
		end := 12 + int(int32(binary.BigEndian.Uint32(raw[8:12])))
		if end < 12 || end > len(raw) {
			break
		}
		out = append(out, rewriteBatch(raw[:end], v)...)
		raw = raw[end:]
	}
	return append(out, raw...)
}

func rewriteBatch(raw []byte, v *view) []byte {
	if len(raw) < 27 {
		return raw
	}
	first := int64(binary.BigEndian.Uint64(raw[0:8]))
	last := first + int64(int32(binary.BigEndian.Uint32(raw[23:27])))
	if !v.touches(first, last) {
		return raw
	}
	recs, b, ok := decodeBatch(raw)
	if !ok {
		return raw
	}
	kept := recs[:0]
	for _, r := range recs {
		off := first + int64(r.OffsetDelta)
		if v.isLost(off) {
			continue
		}
		if val, ok := v.served[off]; ok {
			r.Value = val
		}
		kept = append(kept, r)
	}
	if len(kept) == 0 {
		return nil
	}
	return encodeBatch(b, kept)
}
