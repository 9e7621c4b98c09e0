package pipeline

// Stage is one transform step. Process appends to out the records that r
// becomes (none to drop it: a dropped record counts as delivered). An error
// sends r to the dead-letter file with the error as the reason.
type Stage interface {
	Process(r *Record, out []*Record) ([]*Record, error)
}

// DeliveryObserver is implemented by components that must act only once a
// page's records have been delivered by every sink (dedupe remembers only
// delivered ids; auto-acknowledge acts only after delivery). Delivered is
// called once per page, in page order per partition, before its checkpoint is
// committed, with the records as they left the stages — including those a
// sink dead-lettered or no sink routed: Record.WasDelivered tells them apart.
type DeliveryObserver interface {
	Delivered(records []*Record)
}

// StageHooks tell RunStages's caller what happened to a record.
type StageHooks struct {
	// Refused is called when st returned an error for rec; rec leaves the
	// output. A non-nil return stops RunStages with that error.
	Refused func(st *StageSpec, rec *Record, err error) error
	// Dropped (optional) is called when st turned rec into nothing.
	Dropped func(st *StageSpec)
}

// RunStages applies the stages, in order, to each record of in and appends
// what comes out to out. A stage runs only on the records of its Streams
// (StageSpec.Streams; empty = every stream); the others pass it unchanged.
// A gap record skips the stages.
// The runner and `replay dlq` both run stages through here, so a stage
// feature applies to both.
func RunStages(stages []StageSpec, in []*Record, out []*Record, h StageHooks) ([]*Record, error) {
	if len(stages) == 0 {
		return append(out, in...), nil
	}
	cur := make([]*Record, 0, 4)
	next := make([]*Record, 0, 4)
	for _, r := range in {
		if r.IsGap() {
			out = append(out, r) // a gap reaches every sink as it is
			continue
		}
		cur = append(cur[:0], r)
		for si := range stages {
			st := &stages[si]
			next = next[:0]
			for _, rec := range cur {
				if !st.applies(rec) {
					next = append(next, rec)
					continue
				}
				var err error
				before := len(next)
				next, err = st.Stage.Process(rec, next)
				if err != nil {
					next = next[:before]
					if err := h.Refused(st, rec, err); err != nil {
						return out, err
					}
					continue
				}
				if len(next) == before && h.Dropped != nil {
					h.Dropped(st)
				}
			}
			cur, next = next, cur
		}
		out = append(out, cur...)
	}
	return out, nil
}
