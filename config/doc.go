// Package config is raftdrill's configuration: the schema with its defaults
// (config.go), loading from a YAML file and RAFTDRILL_* environment overrides
// with strict decoding (load.go), and validation that reports every problem
// with its key path (validate.go). No other package parses configuration.
package config
