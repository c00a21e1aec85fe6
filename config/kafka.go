package config

import (
	"github.com/IBM/sarama"
)

// ParseKafkaVersion parses cluster.kafka_version, the protocol version the
// Kafka client speaks (sarama picks request versions from it).
func ParseKafkaVersion(s string) (sarama.KafkaVersion, error) {
	return sarama.ParseKafkaVersion(s)
}

// RequiredAcks turns a drill's acks setting ("all" or "1") into sarama's.
func RequiredAcks(s string) sarama.RequiredAcks {
	if s == "1" {
		return sarama.WaitForLocal
	}
	return sarama.WaitForAll
}
