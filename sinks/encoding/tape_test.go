package encoding

// appendRepr appends Python's repr() of the JSON value v (any kind), on a
// tape of its own: the tests' entry to py.repr.
func (p *py) appendRepr(dst, v []byte) []byte {
	var t tape
	if !t.parseValue(v) {
		panic("appendRepr: invalid JSON")
	}
	p.t = &t
	return p.repr(dst, 0)
}
