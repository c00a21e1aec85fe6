package config

import (
	"fmt"
	"slices"
	"strings"
)

// Section is a part of the configuration owned by another package: a
// drill's settings (drills.leader-failover), a node controller's
// (cluster.controller.process), the embedded sandbox's (sandbox). The
// package declares it with its key and its defaults; Load decodes it as
// strictly as the rest, and Get hands it back.
type Section struct {
	// Key is the section's dotted key path.
	Key string
	// New returns a pointer to a struct holding the section's defaults,
	// with mapstructure tags; when it implements Validator, Load validates
	// it. Nil: the key is known but takes no settings (a node controller
	// type without options).
	New func() any
}

// NoSettings is the value of a section without settings.
type NoSettings struct{}

func (s Section) value() any {
	if s.New == nil {
		return &NoSettings{}
	}
	return s.New()
}

// Validator is a section that checks itself.
type Validator interface {
	// Validate reports the section's problems; ch prefixes keys with the
	// section's key. root is the whole configuration, for rules that
	// involve other keys.
	Validate(ch *Checker, root *Config)
}

// Check is a rule about the core configuration that only another package
// can apply, because it needs what config may not import (config is the
// schema everyone else builds on): server.web_config_file is read by the
// exporter-toolkit, which daemon/web links. Load runs every check after
// the core and the sections validated; a check reports with absolute keys
// (Checker.AddAbs or a Checker at the root).
type Check func(ch *Checker, root *Config)

// Get returns the decoded section at key, as the pointer type its Section
// made. It panics if the section was not registered with Load or is of
// another type: that is a programming error, not a configuration one.
func Get[T any](c *Config, key string) T {
	v, ok := c.sections[key]
	if !ok {
		panic(fmt.Sprintf("config: section %q was not registered", key))
	}
	t, ok := v.(T)
	if !ok {
		panic(fmt.Sprintf("config: section %q is a %T, not a %T", key, v, t))
	}
	return t
}

// Has reports whether a section is registered at key.
func (c *Config) Has(key string) bool {
	_, ok := c.sections[key]
	return ok
}

// WithSections returns the default configuration with the given sections'
// defaults, for callers that build a configuration in code (tests, the
// dashboards' default thresholds).
func WithSections(secs []Section) *Config {
	c := Default()
	c.sections = map[string]any{}
	for _, s := range secs {
		c.sections[s.Key] = s.value()
		c.sectionOrder = append(c.sectionOrder, s.Key)
	}
	return &c
}

// sectionKeys are the keys of secs, sorted.
func sectionKeys(secs []Section) []string {
	keys := make([]string, len(secs))
	for i, s := range secs {
		keys[i] = s.Key
	}
	slices.Sort(keys)
	return keys
}

// childrenOf lists the last key element of the sections directly below
// parent ("drills" → "benchmark", "failure-recovery", ...).
func childrenOf(parent string, secs []Section) []string {
	var out []string
	for _, k := range sectionKeys(secs) {
		if rest, ok := strings.CutPrefix(k, parent+"."); ok && !strings.Contains(rest, ".") {
			out = append(out, rest)
		}
	}
	return out
}
