package kafkaserver

import (
	"bufio"
	"encoding/binary"
	"io"
	"log/slog"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// start serves a handler that answers InitProducerID with the id asked
// for, holding the first request until the third has been handled, so
// that the first is ready last.
func start(t *testing.T) net.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	third := make(chan struct{})
	s := New(ln, Config{
		Versions: map[kmsg.Key][2]int16{kmsg.InitProducerID: {0, 4}},
		Handle: func(req kmsg.Request) kmsg.Response {
			r := req.(*kmsg.InitProducerIDRequest)
			switch r.ProducerID {
			case 1:
				select {
				case <-third:
				case <-time.After(10 * time.Second):
					t.Error("the third request was never handled while the first waited")
				}
			case 3:
				close(third)
			}
			resp := r.ResponseKind().(*kmsg.InitProducerIDResponse)
			resp.ProducerID = r.ProducerID
			return resp
		},
		Wait: func(<-chan struct{}) bool { return true },
		Log:  slog.New(slog.DiscardHandler),
	})
	s.Start()
	t.Cleanup(s.Stop)
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func write(t *testing.T, c net.Conn, corr int32, req kmsg.Request) {
	t.Helper()
	frame := make([]byte, 4, 64)
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.Key()))
	frame = binary.BigEndian.AppendUint16(frame, uint16(req.GetVersion()))
	frame = binary.BigEndian.AppendUint32(frame, uint32(corr))
	frame = binary.BigEndian.AppendUint16(frame, 0xffff) // no client id
	if req.IsFlexible() {
		frame = append(frame, 0) // no header tags
	}
	frame = req.AppendTo(frame)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	if _, err := c.Write(frame); err != nil {
		t.Fatal(err)
	}
}

// read reads an answer and returns its correlation id and body (after the
// header, whose tags only a flexible answer other than ApiVersions has).
func read(t *testing.T, r io.Reader, flexible bool) (int32, []byte) {
	t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatal(err)
	}
	body := b[4:]
	if flexible {
		body = body[1:]
	}
	return int32(binary.BigEndian.Uint32(b)), body
}

// Answers go back in request order, though the first is answered last.
func TestAnswersInRequestOrder(t *testing.T) {
	c := start(t)
	for i := int32(1); i <= 3; i++ {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.SetVersion(4) // flexible, with the producer id
		req.ProducerID, req.ProducerEpoch = int64(i), 0
		write(t, c, 100+i, req)
	}
	r := bufio.NewReader(c)
	for i := int32(1); i <= 3; i++ {
		corr, body := read(t, r, true)
		resp := kmsg.NewPtrInitProducerIDResponse()
		resp.SetVersion(4)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		if corr != 100+i || resp.ProducerID != int64(i) {
			t.Fatalf("answer %d: correlation %d, producer id %d", i, corr, resp.ProducerID)
		}
	}
}

// ApiVersions lists the handler's requests and the server's own; one of a
// version the server does not speak is answered in version 0 with
// UNSUPPORTED_VERSION, so the client can pick again.
func TestAPIVersions(t *testing.T) {
	c := start(t)
	r := bufio.NewReader(c)
	for _, tc := range []struct {
		version, answered, code int16
	}{
		{3, 3, 0},
		{9, 0, 35},
	} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(tc.version)
		write(t, c, int32(tc.version), req)
		corr, body := read(t, r, false) // ApiVersions answers carry no header tags
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(tc.answered)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		var keys []int16
		for _, k := range resp.ApiKeys {
			keys = append(keys, k.ApiKey)
		}
		if corr != int32(tc.version) || resp.ErrorCode != tc.code || !slices.Equal(keys, []int16{int16(kmsg.ApiVersions), int16(kmsg.InitProducerID)}) {
			t.Fatalf("ApiVersions v%d: correlation %d, error %d, keys %v", tc.version, corr, resp.ErrorCode, keys)
		}
	}
}
