// Package fakeslack is a Slack for tests: slack-go's slacktest server with
// handlers of raftdrill's own for the endpoints it uses, recording every
// message it accepts and able to fail the next requests on demand.
package fakeslack

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"

	"github.com/raftdrill/raftdrill/internal/testutil"
)

// Server is slack-go's slacktest server with handlers of our own for the
// three endpoints raftdrill uses (chat.postMessage, chat.update and an
// incoming webhook), because slacktest's own hand out second-resolution
// timestamps (two messages in one second would share a thread) and do not
// implement chat.update. It records every accepted message in order and
// can answer the next requests with faults (429 with Retry-After, 500).
type Server struct {
	srv      *slacktest.Server
	Token    string // the bot token it accepts
	hookPath string // the secret path of the webhook URL

	mu       sync.Mutex
	msgs     []Msg
	attempts []Attempt
	faults   []Fault
	ts       int
	down     bool
}

// Msg is one message Slack accepted.
type Msg struct {
	Method    string // chat.postMessage, chat.update or webhook
	Channel   string
	TS        string // the message's own ts (for chat.update: the one edited)
	ThreadTS  string
	Broadcast bool
	Text      string
	Blocks    string // raw JSON
	At        time.Time
}

type Attempt struct {
	Method string
	Status int
	At     time.Time
}

type Fault struct {
	Status     int
	RetryAfter string
}

const ChannelID = "C0ALERTS"

func New(t testing.TB) *Server {
	t.Helper()
	f := &Server{Token: "xoxb-test-" + randomish(t), hookPath: "/services/T000/B000/" + randomish(t)}
	f.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", f.handle("chat.postMessage"))
		c.Handle("/chat.update", f.handle("chat.update"))
		c.Handle("/services/", f.handle("webhook"))
	})
	f.srv.Start()
	t.Cleanup(f.srv.Stop)
	return f
}

func randomish(t testing.TB) string {
	return strings.NewReplacer("/", "", " ", "").Replace(fmt.Sprintf("%x%d", t.Name(), time.Now().UnixNano()))[:24]
}

func (f *Server) APIURL() string  { return f.srv.GetAPIURL() }
func (f *Server) HookURL() string { return "http://" + f.srv.ServerAddr + f.hookPath }

// SetDown makes every request fail with 503 until SetDown(false): Slack
// unreachable for as long as a test needs.
func (f *Server) SetDown(down bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.down = down
}

// failNext makes the next requests fail, in order.
func (f *Server) FailNext(faults ...Fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, faults...)
}

func (f *Server) handle(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		now := time.Now()
		if f.down {
			f.attempts = append(f.attempts, Attempt{method, http.StatusServiceUnavailable, now})
			http.Error(w, "slack is down", http.StatusServiceUnavailable)
			return
		}
		if len(f.faults) > 0 {
			ft := f.faults[0]
			f.faults = f.faults[1:]
			f.attempts = append(f.attempts, Attempt{method, ft.Status, now})
			if ft.RetryAfter != "" {
				w.Header().Set("Retry-After", ft.RetryAfter)
			}
			http.Error(w, http.StatusText(ft.Status), ft.Status)
			return
		}
		f.attempts = append(f.attempts, Attempt{method, http.StatusOK, now})
		if method == "webhook" {
			f.webhook(w, r, body, now)
			return
		}
		f.api(w, method, body, now)
	}
}

func (f *Server) webhook(w http.ResponseWriter, r *http.Request, body []byte, now time.Time) {
	if r.URL.Path != f.hookPath {
		http.Error(w, "no_service", http.StatusNotFound)
		return
	}
	var m struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	f.msgs = append(f.msgs, Msg{Method: "webhook", Text: m.Text, Blocks: string(m.Blocks), At: now})
	io.WriteString(w, "ok")
}

func (f *Server) api(w http.ResponseWriter, method string, body []byte, now time.Time) {
	v, _ := url.ParseQuery(string(body))
	reply := func(resp map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp)
	}
	if v.Get("token") != f.Token {
		reply(map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	m := Msg{Method: method, Channel: v.Get("channel"), ThreadTS: v.Get("thread_ts"), Broadcast: v.Get("reply_broadcast") == "true",
		Text: v.Get("text"), Blocks: v.Get("blocks"), At: now}
	switch method {
	case "chat.postMessage":
		if m.Channel != "#alerts" && m.Channel != ChannelID {
			reply(map[string]any{"ok": false, "error": "channel_not_found"})
			return
		}
		f.ts++
		m.TS = fmt.Sprintf("1700000000.%06d", f.ts)
	case "chat.update":
		// Slack edits by channel id, not by name.
		m.TS = v.Get("ts")
		if m.Channel != ChannelID || !f.postedLocked(m.TS) {
			reply(map[string]any{"ok": false, "error": "message_not_found"})
			return
		}
	}
	f.msgs = append(f.msgs, m)
	reply(map[string]any{"ok": true, "channel": ChannelID, "ts": m.TS, "text": m.Text})
}

func (f *Server) postedLocked(ts string) bool {
	for _, m := range f.msgs {
		if m.Method == "chat.postMessage" && m.TS == ts {
			return true
		}
	}
	return false
}

// messages returns a copy of what Slack accepted so far.
func (f *Server) Messages() []Msg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Msg(nil), f.msgs...)
}

func (f *Server) Attempts() []Attempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Attempt(nil), f.attempts...)
}

// waitMessages waits until at least n messages arrived.
func (f *Server) WaitMessages(t testing.TB, n int, timeout time.Duration) []Msg {
	t.Helper()
	var got []Msg
	testutil.WaitFor(t, fmt.Sprintf("%d Slack messages", n), timeout, func() bool {
		got = f.Messages()
		return len(got) >= n
	})
	return got
}

// Addr is the server's host:port.
func (f *Server) Addr() string { return f.srv.ServerAddr }
