package sandboxctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/raftdrill/raftdrill/sandbox"
)

// partitioner is what the sandbox, embedded or behind its control API,
// offers for cutting and healing Raft traffic and for freezing a node.
type partitioner interface {
	Partition(ctx context.Context, groups [][]int32) error
	HealAll(ctx context.Context) error
	Pause(ctx context.Context, id int32) error
	Resume(ctx context.Context, id int32) error
}

// Isolate cuts the Raft traffic between node id and peers; clients still
// reach every node.
func (s *Sandbox) Isolate(ctx context.Context, id int32, peers []int32) error {
	p, err := s.partitioner()
	if err != nil {
		return err
	}
	return p.Partition(ctx, [][]int32{{id}, slices.Clone(peers)})
}

// Heal restores every cut link. The sandbox has one set of cuts, so
// healing one isolation heals them all.
func (s *Sandbox) Heal(ctx context.Context, _ int32, _ []int32) error {
	p, err := s.partitioner()
	if err != nil {
		return err
	}
	return p.HealAll(ctx)
}

// Pause freezes a node as SIGSTOP would.
func (s *Sandbox) Pause(ctx context.Context, id int32) error {
	p, err := s.partitioner()
	if err != nil {
		return err
	}
	return p.Pause(ctx, id)
}

// Resume thaws a paused node.
func (s *Sandbox) Resume(ctx context.Context, id int32) error {
	p, err := s.partitioner()
	if err != nil {
		return err
	}
	return p.Resume(ctx, id)
}

// Supports: the sandbox does both.
func (s *Sandbox) Supports(string) error {
	_, err := s.partitioner()
	return err
}

func (s *Sandbox) partitioner() (partitioner, error) {
	if p, ok := s.ctl.(partitioner); ok {
		return p, nil
	}
	if s.embedded != nil {
		return embeddedPartitioner{s.embedded}, nil
	}
	return nil, fmt.Errorf("this sandbox cannot cut links or pause nodes (%w)", errors.ErrUnsupported)
}

// Partition cuts Raft traffic between groups of nodes through POST
// /partitions.
func (s *API) Partition(ctx context.Context, groups [][]int32) error {
	body, err := json.Marshal(groups)
	if err != nil {
		return err
	}
	return s.send(ctx, http.MethodPost, "/partitions", body)
}

// HealAll restores every cut link through DELETE /partitions.
func (s *API) HealAll(ctx context.Context) error {
	return s.do(ctx, http.MethodDelete, "/partitions", nil)
}

// Pause freezes a node through POST /nodes/{id}/pause.
func (s *API) Pause(ctx context.Context, id int32) error {
	return s.do(ctx, http.MethodPost, fmt.Sprintf("/nodes/%d/pause", id), nil)
}

// Resume thaws a node through POST /nodes/{id}/resume.
func (s *API) Resume(ctx context.Context, id int32) error {
	return s.do(ctx, http.MethodPost, fmt.Sprintf("/nodes/%d/resume", id), nil)
}

// send is do with a JSON body and no answer wanted.
func (s *API) send(ctx context.Context, method, path string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, method, s.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("sandbox control API: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sandbox control API: %s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	return nil
}

// embeddedPartitioner is the embedded sandbox as a partitioner.
type embeddedPartitioner struct{ c *sandbox.Cluster }

func (e embeddedPartitioner) Partition(_ context.Context, groups [][]int32) error {
	return e.c.Partition(groups)
}

func (e embeddedPartitioner) HealAll(context.Context) error { e.c.Heal(); return nil }

func (e embeddedPartitioner) Pause(ctx context.Context, id int32) error { return e.c.Pause(ctx, id) }

func (e embeddedPartitioner) Resume(ctx context.Context, id int32) error {
	return e.c.Resume(ctx, id)
}
