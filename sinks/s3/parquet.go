package s3

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress/snappy"
)

// OCSF records have no fixed column set (a class's optional attributes
// appear as the item has them), so an object's Parquet schema is the union
// of its records' JSON shapes: objects become groups, arrays lists, strings
// STRING, integers INT64, other numbers DOUBLE, booleans BOOLEAN, every
// column optional. A field whose values differ in kind (a string here, a
// number there) becomes a JSON column, so no value is lost. The schema
// depends only on the object's records, so a retried object is written
// byte for byte the same.

type kind int

const (
	kNone kind = iota // only null (or empty arrays/objects) seen
	kString
	kInt
	kFloat
	kBool
	kObject
	kList
	kMixed
)

type shape struct {
	kind   kind
	fields map[string]*shape
	elem   *shape
}

func (s *shape) set(k kind) {
	switch {
	case s.kind == kNone || s.kind == k:
		s.kind = k
	case (s.kind == kInt && k == kFloat) || (s.kind == kFloat && k == kInt):
		s.kind = kFloat
	default:
		s.kind = kMixed
	}
}

// add merges a decoded JSON value (numbers as json.Number) into the shape.
func (s *shape) add(v any) {
	switch x := v.(type) {
	case nil:
	case string:
		s.set(kString)
	case json.Number:
		if strings.ContainsAny(string(x), ".eE") {
			s.set(kFloat)
		} else if _, err := x.Int64(); err == nil {
			s.set(kInt)
		} else {
			s.set(kFloat) // beyond int64
		}
	case bool:
		s.set(kBool)
	case map[string]any:
		s.set(kObject)
		if s.kind != kObject {
			return
		}
		if s.fields == nil {
			s.fields = map[string]*shape{}
		}
		for k, fv := range x {
			f := s.fields[k]
			if f == nil {
				f = &shape{}
				s.fields[k] = f
			}
			f.add(fv)
		}
	case []any:
		s.set(kList)
		if s.kind != kList {
			return
		}
		if s.elem == nil {
			s.elem = &shape{}
		}
		for _, e := range x {
			s.elem.add(e)
		}
	}
}

// node is the shape's Parquet column (nil: nothing but nulls and empty
// containers were seen, so there is nothing to store).
func (s *shape) node() parquet.Node {
	switch s.kind {
	case kString:
		return parquet.Optional(parquet.String())
	case kInt:
		return parquet.Optional(parquet.Int(64))
	case kFloat:
		return parquet.Optional(parquet.Leaf(parquet.DoubleType))
	case kBool:
		return parquet.Optional(parquet.Leaf(parquet.BooleanType))
	case kMixed:
		return parquet.Optional(parquet.JSON())
	case kObject:
		if g := s.group(); g != nil {
			return parquet.Optional(g)
		}
	case kList:
		if s.elem == nil {
			return nil
		}
		if s.elem.kind == kMixed {
			// elements of different kinds: the list as one JSON value
			return parquet.Optional(parquet.JSON())
		}
		if e := s.elem.node(); e != nil {
			return parquet.Optional(parquet.List(e))
		}
	}
	return nil
}

func (s *shape) group() parquet.Group {
	g := parquet.Group{}
	for k, f := range s.fields {
		if n := f.node(); n != nil {
			g[k] = n
		}
	}
	if len(g) == 0 {
		return nil
	}
	return g
}

// parquetObject writes JSON documents (one OCSF record each) as one
// Parquet file (snappy-compressed columns).
func parquetObject(dst *bytes.Buffer, docs [][]byte) error {
	root := &shape{}
	rows := make([]json.RawMessage, len(docs))
	for i, d := range docs {
		dec := json.NewDecoder(bytes.NewReader(d))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return fmt.Errorf("record %d is not JSON: %w", i, err)
		}
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("record %d is not a JSON object", i)
		}
		root.add(v)
		rows[i] = d
	}
	g := root.group()
	if g == nil {
		return fmt.Errorf("no columns: the records are empty objects")
	}
	dst.Reset()
	w := parquet.NewGenericWriter[json.RawMessage](dst, parquet.NewSchema("ocsf", g), parquet.Compression(&snappy.Codec{}))
	if _, err := w.Write(rows); err != nil {
		return fmt.Errorf("writing Parquet: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("writing Parquet: %w", err)
	}
	return nil
}
