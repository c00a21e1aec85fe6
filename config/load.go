package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// EnvPrefix starts every environment override: RAFTDRILL_ + the key path in
// capitals with "." and "-" as "_" (drills.leader-failover.rate →
// RAFTDRILL_DRILLS_LEADER_FAILOVER_RATE).
const EnvPrefix = "RAFTDRILL"

// Problem is one thing wrong with a configuration, tied to its key path.
type Problem struct {
	Key string
	Msg string
}

func (p Problem) String() string { return p.Key + ": " + p.Msg }

// Problems is every problem found in a configuration. Load returns it as its
// error so that a user fixes all of them in one go, not one per attempt.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads the YAML file at path (none when path is empty), applies the
// RAFTDRILL_* environment overrides on top and the defaults beneath, decodes
// strictly, core and sections alike, and validates. The error is Problems
// when the content is wrong, a plain error when the file cannot be read.
// checks are the rules of other packages about the core keys (see Check).
func Load(path string, secs []Section, checks ...Check) (*Config, error) {
	return LoadEnv(path, os.Environ(), secs, checks...)
}

// LoadEnv is Load with the environment given (KEY=value entries; for the
// same variable, the last entry wins).
func LoadEnv(path string, environ []string, secs []Section, checks ...Check) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))

	defaults := map[string]any{}
	walk(reflect.ValueOf(Default()), "", defaults)
	values := map[string]any{}
	for _, s := range secs {
		val := s.value()
		values[s.Key] = val
		walk(reflect.ValueOf(val).Elem(), s.Key, defaults)
	}
	for key, val := range defaults {
		v.SetDefault(key, val)
	}
	var problems Problems
	// Viper only looks up environment variables for keys it knows, so a
	// misspelt override would be silently ignored: name it instead.
	envKeys := map[string]string{}
	for key := range defaults {
		envKeys[EnvName(key)] = key
	}
	for _, kv := range environ {
		name, val, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix+"_") {
			continue
		}
		key, ok := envKeys[name]
		if !ok {
			problems = append(problems, Problem{name, "unknown environment override (no such config key)"})
			continue
		}
		v.Set(key, val)
	}

	if path != "" {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("read config: %w", err)
		}
		defer f.Close()
		if err := v.ReadConfig(f); err != nil {
			return nil, fmt.Errorf("parse config %s: %w", path, err)
		}
	}

	all := v.AllSettings()
	cfg := Default()
	cfg.sections = values
	for _, s := range secs {
		cfg.sectionOrder = append(cfg.sectionOrder, s.Key)
	}
	bad := map[string]bool{}
	var md mapstructure.Metadata
	problems = append(problems, decode(all, &cfg, "", &md, bad)...)
	for _, key := range md.Unused {
		problems = append(problems, unknownKeys(key, lookup(all, key), secs)...)
	}
	for _, s := range secs {
		var smd mapstructure.Metadata
		raw := lookup(all, s.Key)
		if raw == nil {
			continue
		}
		problems = append(problems, decode(raw, values[s.Key], s.Key, &smd, bad)...)
		for _, key := range smd.Unused {
			problems = append(problems, Problem{s.Key + "." + key, "unknown key"})
		}
	}
	// Validate what did decode too, so one run names every problem; a key
	// that failed to decode is reported once, by the decoder.
	ch := NewChecker("")
	for _, check := range checks {
		check(ch, &cfg)
	}
	for _, p := range append(cfg.Validate(), ch.Problems()...) {
		if !bad[p.Key] {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Key < problems[j].Key })
		return nil, problems
	}
	return &cfg, nil
}

// decode decodes raw into out strictly, reporting problems under prefix and
// marking the keys it could not decode in bad.
func decode(raw, out any, prefix string, md *mapstructure.Metadata, bad map[string]bool) Problems {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Metadata:         md,
		Result:           out,
		ZeroFields:       true,
		WeaklyTypedInput: true,
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			durationHook,
			mapstructure.StringToSliceHookFunc(","),
		),
	})
	if err != nil {
		return Problems{{prefix, err.Error()}}
	}
	var ps Problems
	for _, p := range decodeProblems(dec.Decode(raw)) {
		if prefix != "" {
			p.Key = prefix + "." + p.Key
		}
		bad[p.Key] = true
		ps = append(ps, p)
	}
	return ps
}

// unknownKeys explains a key no part of the schema took: unknown, unless a
// section lives at it or below it (those decode on their own).
func unknownKeys(key string, raw any, secs []Section) Problems {
	for _, s := range secs {
		if s.Key == key {
			return nil
		}
	}
	known := childrenOf(key, secs)
	below := len(known) > 0
	for _, s := range secs {
		below = below || strings.HasPrefix(s.Key, key+".")
	}
	if !below {
		if parent, last, ok := cutLast(key); ok {
			if sibs := childrenOf(parent, secs); len(sibs) > 0 {
				return Problems{{key, fmt.Sprintf("unknown key %q (known under %s: %s)", last, parent, strings.Join(sibs, ", "))}}
			}
		}
		return Problems{{key, "unknown key"}}
	}
	m, ok := raw.(map[string]any)
	if !ok {
		return Problems{{key, "must be a map"}}
	}
	var ps Problems
	for k, sub := range m {
		ps = append(ps, unknownKeys(key+"."+k, sub, secs)...)
	}
	return ps
}

func cutLast(key string) (parent, last string, ok bool) {
	i := strings.LastIndexByte(key, '.')
	if i < 0 {
		return "", key, false
	}
	return key[:i], key[i+1:], true
}

// lookup finds the value at a dotted key in viper's nested settings.
func lookup(all map[string]any, key string) any {
	var cur any = all
	for _, part := range strings.Split(key, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

// EnvName is the environment override of key (see EnvPrefix).
func EnvName(key string) string {
	return EnvPrefix + "_" + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(key))
}

// decodeProblems turns mapstructure's decode errors (a tree of wrapped and
// joined errors whose leaves are *mapstructure.DecodeError) into problems
// keyed by the field each concerns.
func decodeProblems(err error) Problems {
	if err == nil {
		return nil
	}
	if errs, ok := err.(interface{ Unwrap() []error }); ok {
		var out Problems
		for _, e := range errs.Unwrap() {
			out = append(out, decodeProblems(e)...)
		}
		return out
	}
	if de, ok := err.(*mapstructure.DecodeError); ok {
		inner := de.Unwrap()
		var deeper *mapstructure.DecodeError
		if _, joined := inner.(interface{ Unwrap() []error }); joined || errors.As(inner, &deeper) {
			return decodeProblems(inner)
		}
		return Problems{{de.Name(), inner.Error()}}
	}
	if inner := errors.Unwrap(err); inner != nil {
		return decodeProblems(inner)
	}
	return Problems{{"(config)", err.Error()}}
}

// walk lists every leaf key below v with its value, so that viper knows
// each key (for environment overrides) and its default.
func walk(v reflect.Value, prefix string, out map[string]any) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
		if name == "" || name == "-" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeOf(time.Duration(0)) {
			walk(fv, key, out)
			continue
		}
		out[key] = fv.Interface()
	}
}

// durationHook parses durations with an error that shows the bad value and
// the expected form (mapstructure's own says only "invalid duration").
func durationHook(from, to reflect.Type, data any) (any, error) {
	durationType := reflect.TypeOf(time.Duration(0))
	if to != durationType || from == durationType {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		// A bare 10 would otherwise mean 10 nanoseconds.
		return nil, fmt.Errorf("duration %v needs a unit (e.g. %vs or %vms)", data, data, data)
	default:
		return data, nil
	}
	d, err := time.ParseDuration(data.(string))
	if err != nil {
		return nil, fmt.Errorf("invalid duration %q (want e.g. 500ms, 10s, 5m)", data)
	}
	return d, nil
}
