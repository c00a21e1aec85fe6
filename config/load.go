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
// strictly and validates. The error is Problems when the content is wrong, a
// plain error when the file cannot be read.
func Load(path string) (*Config, error) {
	return load(path, os.Environ())
}

func load(path string, environ []string) (*Config, error) {
	v := viper.New()
	v.SetConfigType("yaml")
	v.SetEnvPrefix(EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_", "-", "_"))

	defaults := flatten(Default())
	for key, val := range defaults {
		v.SetDefault(key, val)
	}
	var problems Problems
	// Viper only looks up environment variables for keys it knows, so a
	// misspelt override would be silently ignored: name it instead.
	envKeys := map[string]string{}
	for key := range defaults {
		envKeys[envName(key)] = key
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

	cfg := Default()
	var md mapstructure.Metadata
	err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.Metadata = &md
		dc.ZeroFields = true
		dc.DecodeHook = mapstructure.ComposeDecodeHookFunc(
			durationHook,
			mapstructure.StringToSliceHookFunc(","),
		)
	})
	bad := map[string]bool{}
	if err != nil {
		for _, p := range decodeProblems(err) {
			bad[p.Key] = true
			problems = append(problems, p)
		}
	}
	for _, key := range md.Unused {
		problems = append(problems, Problem{key, "unknown key"})
	}
	// Validate what did decode too, so one run names every problem; a key
	// that failed to decode is reported once, by the decoder.
	for _, p := range cfg.Validate() {
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

func envName(key string) string {
	return EnvPrefix + "_" + strings.NewReplacer(".", "_", "-", "_").Replace(strings.ToUpper(key))
}

// decodeProblems turns mapstructure's joined decode errors into problems
// keyed by the field they concern.
func decodeProblems(err error) Problems {
	var out Problems
	var errs interface{ Unwrap() []error }
	if errors.As(err, &errs) {
		for _, e := range errs.Unwrap() {
			out = append(out, decodeProblems(e)...)
		}
		return out
	}
	var fe interface{ error }
	fe = err
	msg := fe.Error()
	// mapstructure says: 'drills.leader-failover.rate' expected type ...
	if strings.HasPrefix(msg, "'") {
		if end := strings.Index(msg[1:], "'"); end >= 0 {
			return Problems{{msg[1 : end+1], strings.TrimSpace(msg[end+2:])}}
		}
	}
	if i := strings.Index(msg, "decoding failed due to the following error(s):"); i >= 0 {
		for _, line := range strings.Split(msg[i:], "\n")[1:] {
			line = strings.TrimSpace(line)
			if line != "" {
				out = append(out, decodeProblems(errors.New(line))...)
			}
		}
		return out
	}
	return Problems{{"(config)", msg}}
}

// flatten lists every leaf key of the defaults with its value, so that viper
// knows each key (for environment overrides) and its default.
func flatten(c Config) map[string]any {
	out := map[string]any{}
	walk(reflect.ValueOf(c), "", out)
	return out
}

func walk(v reflect.Value, prefix string, out map[string]any) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name := f.Tag.Get("mapstructure")
		if name == "" {
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		fv := v.Field(i)
		if fv.Kind() == reflect.Struct {
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
