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
