package alerts

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"
)

// fakeSlack is slack-go's slacktest server with handlers of our own for the
// three endpoints raftdrill uses (chat.postMessage, chat.update and an
// incoming webhook), because slacktest's own hand out second-resolution
// timestamps (two messages in one second would share a thread) and do not
// implement chat.update. It records every accepted message in order and
// can answer the next requests with faults (429 with Retry-After, 500).
type fakeSlack struct {
	srv      *slacktest.Server
	token    string // the bot token it accepts
	hookPath string // the secret path of the webhook URL

	mu       sync.Mutex
	msgs     []fakeMsg
	attempts []fakeAttempt
	faults   []fakeFault
	ts       int
}

// fakeMsg is one message Slack accepted.
type fakeMsg struct {
	Method    string // chat.postMessage, chat.update or webhook
	Channel   string
	TS        string // the message's own ts (for chat.update: the one edited)
	ThreadTS  string
	Broadcast bool
	Text      string
	Blocks    string // raw JSON
	At        time.Time
}

type fakeAttempt struct {
	Method string
	Status int
	At     time.Time
}

type fakeFault struct {
	status     int
	retryAfter string
}

const fakeChannelID = "C0ALERTS"

func newFakeSlack(t testing.TB) *fakeSlack {
	t.Helper()
	f := &fakeSlack{token: "xoxb-test-" + randomish(t), hookPath: "/services/T000/B000/" + randomish(t)}
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

func (f *fakeSlack) apiURL() string  { return f.srv.GetAPIURL() }
func (f *fakeSlack) hookURL() string { return "http://" + f.srv.ServerAddr + f.hookPath }

// failNext makes the next requests fail, in order.
func (f *fakeSlack) failNext(faults ...fakeFault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.faults = append(f.faults, faults...)
}

func (f *fakeSlack) handle(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		defer f.mu.Unlock()
		now := time.Now()
		if len(f.faults) > 0 {
			ft := f.faults[0]
			f.faults = f.faults[1:]
			f.attempts = append(f.attempts, fakeAttempt{method, ft.status, now})
			if ft.retryAfter != "" {
				w.Header().Set("Retry-After", ft.retryAfter)
			}
			http.Error(w, http.StatusText(ft.status), ft.status)
			return
		}
		f.attempts = append(f.attempts, fakeAttempt{method, http.StatusOK, now})
		if method == "webhook" {
			f.webhook(w, r, body, now)
			return
		}
		f.api(w, method, body, now)
	}
}

func (f *fakeSlack) webhook(w http.ResponseWriter, r *http.Request, body []byte, now time.Time) {
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
	f.msgs = append(f.msgs, fakeMsg{Method: "webhook", Text: m.Text, Blocks: string(m.Blocks), At: now})
	io.WriteString(w, "ok")
}

func (f *fakeSlack) api(w http.ResponseWriter, method string, body []byte, now time.Time) {
	v, _ := url.ParseQuery(string(body))
	reply := func(resp map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(resp)
	}
	if v.Get("token") != f.token {
		reply(map[string]any{"ok": false, "error": "invalid_auth"})
		return
	}
	m := fakeMsg{Method: method, Channel: v.Get("channel"), ThreadTS: v.Get("thread_ts"), Broadcast: v.Get("reply_broadcast") == "true",
		Text: v.Get("text"), Blocks: v.Get("blocks"), At: now}
	switch method {
	case "chat.postMessage":
		if m.Channel != "#alerts" && m.Channel != fakeChannelID {
			reply(map[string]any{"ok": false, "error": "channel_not_found"})
			return
		}
		f.ts++
		m.TS = fmt.Sprintf("1700000000.%06d", f.ts)
	case "chat.update":
		// Slack edits by channel id, not by name.
		m.TS = v.Get("ts")
		if m.Channel != fakeChannelID || !f.postedLocked(m.TS) {
			reply(map[string]any{"ok": false, "error": "message_not_found"})
			return
		}
	}
	f.msgs = append(f.msgs, m)
	reply(map[string]any{"ok": true, "channel": fakeChannelID, "ts": m.TS, "text": m.Text})
}

func (f *fakeSlack) postedLocked(ts string) bool {
	for _, m := range f.msgs {
		if m.Method == "chat.postMessage" && m.TS == ts {
			return true
		}
	}
	return false
}

// messages returns a copy of what Slack accepted so far.
func (f *fakeSlack) messages() []fakeMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeMsg(nil), f.msgs...)
}

func (f *fakeSlack) attemptsSeen() []fakeAttempt {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]fakeAttempt(nil), f.attempts...)
}

// waitMessages waits until at least n messages arrived.
func (f *fakeSlack) waitMessages(t testing.TB, n int, timeout time.Duration) []fakeMsg {
	t.Helper()
	var got []fakeMsg
	waitUntil(t, fmt.Sprintf("%d Slack messages", n), timeout, func() bool {
		got = f.messages()
		return len(got) >= n
	})
	return got
}

// waitUntil polls cond until it holds; generous timeouts keep it steady on
// a busy machine, polling keeps it quick on an idle one.
func waitUntil(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// secretFile writes a secret to a file only the test can read.
func secretFile(t testing.TB, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
