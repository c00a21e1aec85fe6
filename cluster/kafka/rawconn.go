package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/raftdrill/raftdrill/config"
)

// rawConn is one connection to one node that sends franz-go kmsg requests
// and hands back their answers undigested: the read-back needs the record
// batches as the node served them, bytes and CRCs included, which sarama
// checks and drops whole before a caller could look (see ReadLog).
type rawConn struct {
	conn    net.Conn
	timeout time.Duration
	fmt     *kmsg.RequestFormatter
	corr    int32
	// maxFetch is the highest Fetch version both sides speak, capped at
	// 11: the last one without flexible framing or topic ids.
	maxFetch int16
}

// security is cluster.tls and cluster.sasl, for raw connections.
type security struct {
	tls  config.TLS
	sasl config.SASL
}

// maxFrame bounds one answer, as a broker's socket.request.max.bytes does.
const maxFrame = 256 << 20

// dialRaw connects to node n and asks which Fetch versions it speaks
// (ApiVersions v0, which every broker answers); a node that does not
// answer it is read with the version the client's Kafka version implies.
// A refusal on TLS or SASL grounds is an *AuthError.
func dialRaw(n Node, timeout time.Duration, fallback int16, sec security) (*rawConn, error) {
	conn, err := net.DialTimeout("tcp", n.Address, timeout)
	if err != nil {
		return nil, DialError{err}
	}
	if sec.tls.Enabled {
		_ = conn.SetDeadline(time.Now().Add(timeout))
		if conn, err = startTLS(conn, n.Address, sec.tls); err != nil {
			return nil, explain(n, sec.sasl, err)
		}
	}
	rc := &rawConn{conn: conn, timeout: timeout, fmt: kmsg.NewRequestFormatter(kmsg.FormatterClientID("raftdrill")), maxFetch: fallback}
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(0)
	resp, err := rc.do(req)
	if err != nil {
		conn.Close()
		// With TLS 1.3 a node's verdict on raftdrill's certificate
		// arrives here, with the first answer, not in the handshake.
		return nil, explain(n, sec.sasl, fmt.Errorf("ApiVersions: %w", err))
	}
	if av := resp.(*kmsg.ApiVersionsResponse); av.ErrorCode == 0 {
		for _, k := range av.ApiKeys {
			if k.ApiKey == int16(kmsg.Fetch) {
				rc.maxFetch = min(k.MaxVersion, 11)
			}
		}
	}
	if sec.sasl.Mechanism != "" {
		if err := rc.authenticate(sec.sasl); err != nil {
			conn.Close()
			return nil, explain(n, sec.sasl, err)
		}
	}
	return rc, nil
}

func (rc *rawConn) Close() error { return rc.conn.Close() }

// do sends req and reads its answer, within the connection's timeout.
func (rc *rawConn) do(req kmsg.Request) (kmsg.Response, error) {
	rc.corr++
	if err := rc.conn.SetDeadline(time.Now().Add(rc.timeout)); err != nil {
		return nil, err
	}
	if _, err := rc.conn.Write(rc.fmt.AppendRequest(nil, req, rc.corr)); err != nil {
		return nil, err
	}
	var size [4]byte
	if _, err := io.ReadFull(rc.conn, size[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 4 || n > maxFrame {
		return nil, fmt.Errorf("answer of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(rc.conn, body); err != nil {
		return nil, err
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != rc.corr {
		return nil, fmt.Errorf("answer to request %d, want %d", corr, rc.corr)
	}
	body = body[4:]
	resp := req.ResponseKind()
	resp.SetVersion(req.GetVersion())
	// ApiVersions answers carry no header tags, whatever their version.
	if resp.IsFlexible() && req.Key() != int16(kmsg.ApiVersions) {
		if len(body) == 0 || body[0] != 0 {
			return nil, errors.New("answer header with tags")
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		return nil, fmt.Errorf("decode %s answer: %w", kmsg.NameForKey(req.Key()), err)
	}
	return resp, nil
}
