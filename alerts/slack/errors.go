package slack

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	slackgo "github.com/slack-go/slack"
)

// DeliveryError is a failed delivery attempt. Its text has been scrubbed of
// the webhook URL and the token; it deliberately does not wrap the original
// error, whose text may carry them.
type DeliveryError struct {
	msg        string
	retryAfter time.Duration
}

func (e *DeliveryError) Error() string { return e.msg }

// RetryAfter is the wait Slack asked for (its Retry-After header), or 0.
func (e *DeliveryError) RetryAfter() time.Duration { return e.retryAfter }

// transientSlackErrors are Web API error codes that say "try again later".
var transientSlackErrors = map[string]bool{
	"ratelimited":         true,
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"team_added_to_org":   true,
}

// secretError is a secret file that could not be read. It is retried: the
// file is read at each attempt, so fixing or rotating it is picked up
// without a restart.
type secretError struct{ err error }

func (e secretError) Error() string { return e.err.Error() }
func (e secretError) Unwrap() error { return e.err }

// classify decides whether err is worth retrying and returns it scrubbed
// of secrets, prefixed with what was being done.
func classify(doing string, err error, secrets ...string) (bool, error) {
	retry, after := retryable(err)
	return retry, &DeliveryError{msg: doing + ": " + scrub(err, secrets...), retryAfter: after}
}

func retryable(err error) (bool, time.Duration) {
	var rl *slackgo.RateLimitedError
	var sc slackgo.StatusCodeError
	var se slackgo.SlackErrorResponse
	var sec secretError
	switch {
	case errors.As(err, &rl):
		return true, rl.RetryAfter
	case errors.As(err, &sc):
		return sc.Retryable(), 0 // 5xx and 429 without Retry-After
	case errors.As(err, &se):
		return transientSlackErrors[se.Err], 0
	case errors.As(err, &sec):
		return true, 0
	default:
		// Network errors, timeouts, a proxy's garbled answer: Slack, or
		// the way to it, is down for now.
		return true, 0
	}
}

// scrub renders err without the URL it was sent to (a webhook URL is the
// secret) and without any of the secrets, however they were quoted.
func scrub(err error, secrets ...string) string {
	s := err.Error()
	var ue *url.Error
	if errors.As(err, &ue) && ue.URL != "" {
		secrets = append(secrets, ue.URL)
	}
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		s = strings.ReplaceAll(s, sec, "[redacted]")
		s = strings.ReplaceAll(s, url.QueryEscape(sec), "[redacted]")
		if u, perr := url.Parse(sec); perr == nil && len(u.Path) > 1 {
			s = strings.ReplaceAll(s, u.Path, "/[redacted]")
		}
	}
	return s
}

// readSecret reads a secret file at the moment it is needed. The error
// names the key and the path, never the content.
func readSecret(key, path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", secretError{fmt.Errorf("read %s: %w", key, err)}
	}
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "", secretError{fmt.Errorf("%s: %s is empty", key, path)}
	}
	return s, nil
}
