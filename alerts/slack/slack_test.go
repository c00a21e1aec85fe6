package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/raftdrill/raftdrill/alerts"
	"github.com/raftdrill/raftdrill/config"
	"github.com/raftdrill/raftdrill/internal/fakeslack"
	"github.com/raftdrill/raftdrill/internal/testutil"
)

var testRenderer = Renderer{Cluster: "test-cluster", RunURLBase: "https://rd.example/runs/", RunbookURL: config.DefaultRunbookURL}

func newBot(t testing.TB, f *fakeslack.Server) *Bot {
	return &Bot{TokenFile: testutil.SecretFile(t, "token", f.Token), Channel: "#alerts", APIURL: f.APIURL(),
		Client: &http.Client{Timeout: 5 * time.Second}, Render: testRenderer}
}

func newHook(t testing.TB, f *fakeslack.Server) *Webhook {
	return &Webhook{URLFile: testutil.SecretFile(t, "webhook", f.HookURL()), Client: &http.Client{Timeout: 5 * time.Second}, Render: testRenderer}
}

func quorumOpen(firing string) *alerts.Message {
	return &alerts.Message{Firing: firing, Op: alerts.OpOpen, Resolvable: true, At: time.Now(),
		Alert: alerts.Alert{Kind: alerts.KindQuorumLost, Title: "Quorum lost", Text: "1 of 3 nodes up", Since: time.Now()}}
}

func quorumResolve(firing string) *alerts.Message {
	m := quorumOpen(firing)
	m.Op, m.Resolvable, m.Resolution = alerts.OpResolve, false, "Quorum is back."
	return m
}

func TestBotResolvesInTheThreadAndUpdatesTheAnnouncement(t *testing.T) {
	f := fakeslack.New(t)
	b := newBot(t, f)
	ctx := context.Background()
	for _, m := range []*alerts.Message{quorumOpen("q#1"), {Firing: "q#1", Op: alerts.OpRepeat, Alert: quorumOpen("").Alert, At: time.Now()}, quorumResolve("q#1")} {
		if _, err := b.Notify(ctx, m); err != nil {
			t.Fatalf("%s: %v", m.Op, err)
		}
	}
	got := f.Messages()
	if len(got) != 4 {
		t.Fatalf("want announcement, repeat, reply, update; got %+v", got)
	}
	ann, rep, reply, upd := got[0], got[1], got[2], got[3]
	if ann.Method != "chat.postMessage" || ann.ThreadTS != "" || !strings.Contains(ann.Text, "Quorum lost") {
		t.Fatalf("announcement %+v", ann)
	}
	if rep.ThreadTS != ann.TS || !rep.Broadcast || !strings.Contains(rep.Text, "Still firing") {
		t.Fatalf("repeat should be a broadcast reply in the thread: %+v", rep)
	}
	if reply.Method != "chat.postMessage" || reply.ThreadTS != ann.TS || reply.Broadcast || !strings.Contains(reply.Text, "Resolved") {
		t.Fatalf("resolution should be a reply in the thread: %+v", reply)
	}
	if upd.Method != "chat.update" || upd.TS != ann.TS || upd.Channel != fakeslack.ChannelID || !strings.Contains(upd.Text, "RESOLVED") ||
		!strings.Contains(upd.Blocks, "1 of 3 nodes up") {
		t.Fatalf("announcement should be edited to show it resolved, keeping what happened: %+v", upd)
	}
}

// A firing whose announcement is unknown (never posted, or folded into a
// summary) resolves with a message of its own.
func TestBotResolvesAnUnknownFiringWithAMessage(t *testing.T) {
	f := fakeslack.New(t)
	b := newBot(t, f)
	if _, err := b.Notify(context.Background(), quorumResolve("q#9")); err != nil {
		t.Fatal(err)
	}
	got := f.Messages()
	if len(got) != 1 || got[0].ThreadTS != "" || !strings.Contains(got[0].Text, "Resolved") {
		t.Fatalf("got %+v", got)
	}
}

func TestWebhookSendsResolutionAsAMessage(t *testing.T) {
	f := fakeslack.New(t)
	w := newHook(t, f)
	for _, m := range []*alerts.Message{quorumOpen("q#1"), quorumResolve("q#1")} {
		if _, err := w.Notify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	got := f.Messages()
	if len(got) != 2 || got[0].Method != "webhook" || !strings.Contains(got[0].Blocks, `"type":"header"`) || !strings.Contains(got[1].Text, "Resolved") {
		t.Fatalf("got %+v", got)
	}
}

func TestBotUnknownChannelIsNotRetried(t *testing.T) {
	f := fakeslack.New(t)
	b := newBot(t, f)
	b.Channel = "#nope"
	retry, err := b.Notify(context.Background(), quorumOpen("q#1"))
	if err == nil || retry || !strings.Contains(err.Error(), "channel_not_found") {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
}

// The token is read at each send: rotating the file needs no restart.
func TestTokenFileIsReadAtEachSend(t *testing.T) {
	f := fakeslack.New(t)
	b := newBot(t, f)
	if err := os.WriteFile(b.TokenFile, []byte("xoxb-revoked\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Notify(context.Background(), quorumOpen("q#1")); err == nil || !strings.Contains(err.Error(), "invalid_auth") {
		t.Fatalf("old token accepted: %v", err)
	}
	if err := os.WriteFile(b.TokenFile, []byte(f.Token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Notify(context.Background(), quorumOpen("q#2")); err != nil {
		t.Fatalf("rotated token: %v", err)
	}
	os.Remove(b.TokenFile)
	if retry, err := b.Notify(context.Background(), quorumOpen("q#3")); err == nil || !retry {
		t.Fatalf("missing token file should be retried (it may be mid-rotation): retry=%v err=%v", retry, err)
	}
}

// Slack rate-limits, then fails for a while: every alert still arrives,
// once, in order, and the Retry-After it asked for is honoured.
func TestSlackDownThenBackEveryAlertOnceInOrder(t *testing.T) {
	for _, mode := range []string{"bot", "webhook"} {
		t.Run(mode, func(t *testing.T) {
			f := fakeslack.New(t)
			var n alerts.Notifier = newBot(t, f)
			if mode == "webhook" {
				n = newHook(t, f)
			}
			f.FailNext(fakeslack.Fault{Status: http.StatusTooManyRequests, RetryAfter: "1"},
				fakeslack.Fault{Status: 500}, fakeslack.Fault{Status: 500}, fakeslack.Fault{Status: 503}, fakeslack.Fault{Status: 500}, fakeslack.Fault{Status: 502})
			sent := sentCounter()
			d := alerts.NewDispatcher(n, alerts.DispatcherOptions{QueueSize: 50, Backoff: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond, Sent: sent}, nil)
			titles := []string{"quorum", "missed", "error", "quorum-resolve"}
			d.Enqueue(quorumOpen("q#1"))
			d.Enqueue(msg(alerts.KindThresholdMissed, "missed"))
			d.Enqueue(msg(alerts.KindDrillError, "error"))
			d.Enqueue(quorumResolve("q#1"))
			runDispatcher(t, d)
			want := len(titles)
			if mode == "bot" {
				want++ // the resolution is a reply and an edit
			}
			f.WaitMessages(t, want, 30*time.Second)
			// Nothing left to send, so no duplicate can follow.
			testutil.WaitFor(t, "the queue to empty", 30*time.Second, func() bool { return d.Len() == 0 })
			got := f.Messages()
			if len(got) != want {
				t.Fatalf("%d messages, want %d: %+v", len(got), want, got)
			}
			order := []string{"Quorum lost", "missed", "error", "Resolved"}
			for i, w := range order {
				if !strings.Contains(got[i].Text, w) {
					t.Fatalf("message %d is %q, want %q (order %v)", i, got[i].Text, w, order)
				}
			}
			if mode == "bot" && (got[3].ThreadTS != got[0].TS || got[4].Method != "chat.update") {
				t.Fatalf("resolution not threaded after the outage: %+v", got[3:])
			}
			at := f.Attempts()
			if at[0].Status != http.StatusTooManyRequests || at[1].At.Sub(at[0].At) < time.Second {
				t.Fatalf("Retry-After: 1 not honoured: first %v, next after %s", at[0].Status, at[1].At.Sub(at[0].At))
			}
			if v := promtest.ToFloat64(sent.WithLabelValues(alerts.KindQuorumLost, alerts.ResultRetry)); v != 6 {
				t.Fatalf("retries counted %v, want 6", v)
			}
			if v := promtest.ToFloat64(sent.WithLabelValues(alerts.KindQuorumLost, alerts.ResultSent)); v != 2 {
				t.Fatalf("quorum-lost sent %v, want 2 (open and resolve)", v)
			}
		})
	}
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The webhook URL and the token are secrets: whatever goes wrong, they
// appear in no log line, no error and no JSON (alertmanager's
// TestHideConfigSecrets, for Slack).
func TestSecretsNeverAppearInLogsErrorsOrJSON(t *testing.T) {
	f := fakeslack.New(t)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := closed.Addr().String()
	closed.Close()
	const hookSecret = "T0SECRET/B0SECRET/hooksecretXYZ"
	const tokenSecret = "xoxb-1234-5678-tokensecretXYZ"
	secrets := []string{hookSecret, "hooksecretXYZ", tokenSecret, "tokensecretXYZ"}

	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := config.WithSections(nil)
	cfg.Alerts.Slack.WebhookURLFile = testutil.SecretFile(t, "hook", "http://"+deadAddr+"/services/"+hookSecret)
	cases := map[string]alerts.Notifier{
		"webhook unreachable": New(cfg, log),
		"webhook wrong path": &Webhook{URLFile: testutil.SecretFile(t, "hook2", "http://"+f.Addr()+"/services/"+hookSecret),
			Client: http.DefaultClient, Render: testRenderer},
		"bot wrong token": &Bot{TokenFile: testutil.SecretFile(t, "tok", tokenSecret), Channel: "#alerts", APIURL: f.APIURL(),
			Client: http.DefaultClient, Render: testRenderer, Log: log},
		"bot unreachable": &Bot{TokenFile: testutil.SecretFile(t, "tok2", tokenSecret), Channel: "#alerts", APIURL: "http://" + deadAddr + "/api/",
			Client: http.DefaultClient, Render: testRenderer, Log: log},
	}
	var seen []string
	for name, n := range cases {
		_, err := n.Notify(context.Background(), quorumOpen("q#1"))
		if err == nil {
			t.Fatalf("%s: no error", name)
		}
		seen = append(seen, err.Error())
		// Through the dispatcher too, so its log lines are checked.
		d := alerts.NewDispatcher(n, alerts.DispatcherOptions{Backoff: time.Millisecond, BackoffMax: time.Millisecond}, log)
		d.Enqueue(quorumOpen("q#2"))
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		d.Run(ctx)
		cancel()
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	seen = append(seen, logs.String(), string(js))
	for _, s := range seen {
		for _, sec := range secrets {
			if strings.Contains(s, sec) {
				t.Fatalf("secret %q leaked in:\n%s", sec, s)
			}
		}
	}
	if !strings.Contains(logs.String(), "redacted") || !strings.Contains(logs.String(), "invalid_auth") {
		t.Fatalf("the logs should still say what went wrong:\n%s", logs.String())
	}
}

func msg(kind, title string) *alerts.Message {
	return &alerts.Message{Op: alerts.OpOpen, At: time.Now(), Alert: alerts.Alert{Kind: kind, Title: title}}
}

func sentCounter() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "raftdrill_alerts_sent_total", Help: "h"}, []string{"kind", "result"})
}

func runDispatcher(t *testing.T, d *alerts.Dispatcher) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { d.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}
