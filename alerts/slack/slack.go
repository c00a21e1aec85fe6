package slack

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/raftdrill/raftdrill/alerts"
	slackgo "github.com/slack-go/slack"
)

// Webhook delivers through a Slack incoming webhook. It cannot edit what it
// posted, so a resolution is a message of its own.
type Webhook struct {
	URLFile string // alerts.slackgo.webhook_url_file, read at each send
	Client  *http.Client
	Render  Renderer
}

// Notify posts one message to the webhook.
func (w *Webhook) Notify(ctx context.Context, m *alerts.Message) (bool, error) {
	hook, err := readSecret("alerts.slackgo.webhook_url_file", w.URLFile)
	if err != nil {
		return classify("post to Slack webhook", err)
	}
	text, blocks := w.Render.Render(m)
	msg := &slackgo.WebhookMessage{Text: text, Blocks: &slackgo.Blocks{BlockSet: blocks}}
	if err := slackgo.PostWebhookCustomHTTPContext(ctx, hook, w.Client, msg); err != nil {
		return classify("post to Slack webhook", err, hook)
	}
	return false, nil
}

// Bot delivers with a bot token (scope chat:write) to one channel. It
// remembers where each firing was announced, so that a repeat and the
// resolution are replies in that thread and the announcement itself is
// edited to show it resolved.
type Bot struct {
	TokenFile string // alerts.slackgo.token_file, read at each send
	Channel   string
	APIURL    string
	Client    *http.Client
	Render    Renderer
	Log       *slog.Logger

	mu     sync.Mutex
	posted map[string]slackRef // firing → where its open message is
	order  []string            // firings in posting order, to bound posted
}

type slackRef struct{ channel, ts string }

// maxRemembered bounds the firings whose announcement is remembered; a
// resolution of an older one is posted as a message of its own.
const maxRemembered = 1000

// Notify posts, replies or edits as the message's op requires.
func (b *Bot) Notify(ctx context.Context, m *alerts.Message) (bool, error) {
	token, err := readSecret("alerts.slackgo.token_file", b.TokenFile)
	if err != nil {
		return classify("post to Slack", err)
	}
	api := slackgo.New(token, slackgo.OptionAPIURL(withSlash(b.APIURL)), slackgo.OptionHTTPClient(b.Client))
	ref, known := b.ref(m.Firing)
	switch {
	case m.Op == alerts.OpResolve && known:
		return b.resolve(ctx, api, m, ref, token)
	case m.Op == alerts.OpRepeat && known:
		// A reply shown in the channel too: people are reminded, and
		// the thread keeps the firing's whole story.
		text, blocks := b.Render.Render(m)
		_, _, err := api.PostMessageContext(ctx, ref.channel, slackgo.MsgOptionText(text, false), slackgo.MsgOptionBlocks(blocks...),
			slackgo.MsgOptionTS(ref.ts), slackgo.MsgOptionBroadcast())
		if err != nil {
			return classify("chat.postMessage (repeat)", err, token)
		}
		return false, nil
	}
	text, blocks := b.Render.Render(m)
	channel, ts, err := api.PostMessageContext(ctx, b.Channel, slackgo.MsgOptionText(text, false), slackgo.MsgOptionBlocks(blocks...))
	if err != nil {
		return classify("chat.postMessage", err, token)
	}
	if m.Op == alerts.OpOpen && m.Resolvable {
		b.remember(m.Firing, slackRef{channel, ts})
	}
	return false, nil
}

// resolve replies in the firing's thread, then edits the announcement.
// Each step is done once: a retry after a failed edit does not reply twice.
func (b *Bot) resolve(ctx context.Context, api *slackgo.Client, m *alerts.Message, ref slackRef, token string) (bool, error) {
	if m.Steps == 0 {
		text, blocks := b.Render.Render(m)
		_, _, err := api.PostMessageContext(ctx, ref.channel, slackgo.MsgOptionText(text, false), slackgo.MsgOptionBlocks(blocks...), slackgo.MsgOptionTS(ref.ts))
		if err != nil {
			return classify("chat.postMessage (resolution)", err, token)
		}
		m.Steps = 1
	}
	text, blocks := b.Render.Resolved(m)
	_, _, _, err := api.UpdateMessageContext(ctx, ref.channel, ref.ts, slackgo.MsgOptionText(text, false), slackgo.MsgOptionBlocks(blocks...))
	if err != nil {
		retry, cerr := classify("chat.update", err, token)
		if retry {
			return true, cerr
		}
		// The resolution itself is in the thread; an announcement
		// someone deleted cannot be edited, and that is not worth a
		// failed delivery.
		b.log().Warn("resolved alert's announcement not updated", "firing", m.Firing, "err", cerr)
	}
	b.forget(m.Firing)
	return false, nil
}

func (b *Bot) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}

func (b *Bot) ref(firing string) (slackRef, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r, ok := b.posted[firing]
	return r, ok
}

func (b *Bot) remember(firing string, r slackRef) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.posted == nil {
		b.posted = map[string]slackRef{}
	}
	b.posted[firing] = r
	b.order = append(b.order, firing)
	for len(b.order) > maxRemembered {
		delete(b.posted, b.order[0])
		b.order = b.order[1:]
	}
}

func (b *Bot) forget(firing string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.posted, firing)
	for i, f := range b.order {
		if f == firing {
			b.order = append(b.order[:i], b.order[i+1:]...)
			break
		}
	}
}

func withSlash(u string) string {
	if strings.HasSuffix(u, "/") {
		return u
	}
	return u + "/"
}
