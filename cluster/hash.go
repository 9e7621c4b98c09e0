package cluster

import (
	"hash/fnv"
	"strings"
)

// PartitionOf maps a tenant id to a coordination-topic partition: FNV-1a of
// the lower-cased id, modulo n. Every member computes the same answer, so a
// tenant belongs to whoever owns its partition, including tenants added
// after the members started. Changing partitions moves tenants.
func PartitionOf(tenant string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(strings.ToLower(tenant)))
	return int(h.Sum32() % uint32(n))
}
