package emulator

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// obj is a JSON object that keeps its key order (encoding/json sorts map
// keys), for bodies that follow the samples' layout.
type obj []kv

type kv struct {
	k string
	v any
}

// MarshalJSON writes the members in order.
func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(appendString(nil, m.k))
		b.WriteByte(':')
		v, err := json.Marshal(m.v)
		if err != nil {
			return nil, err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// writeJSON marshals v and writes it.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		s.writeError(w, http.StatusInternalServerError, "Internal Server Error.")
		return
	}
	s.writeBody(w, status, b)
}

// readJSON decodes a request body into v; an empty body is allowed when
// emptyOK. It answers 400 itself and reports false on failure.
func (s *Server) readJSON(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(v); err != nil {
		if emptyOK && err.Error() == "EOF" {
			return true
		}
		s.writeError(w, http.StatusBadRequest, "Invalid JSON body: "+err.Error())
		return false
	}
	return true
}
