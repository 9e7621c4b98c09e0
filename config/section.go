package config

import "gopkg.in/yaml.v3"

// Section keeps a block whose keys another package decodes (the cluster
// block is decoded by package cluster, which shares the Kafka sink's types).
type Section struct {
	Node *yaml.Node `yaml:"-"`
	Line int        `yaml:"-"`
}

// UnmarshalYAML keeps the node.
func (s *Section) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return &FieldError{Line: n.Line, Msg: "expected a mapping"}
	}
	s.Node, s.Line = n, n.Line
	return nil
}
