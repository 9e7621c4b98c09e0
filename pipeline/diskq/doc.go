// Package diskq is the durable per-sink disk buffer: an append-only log of
// checksummed entries in segment files, read in order, acknowledged by
// position, and deleted segment by segment once delivered.
//
// # Layout
//
// One directory per sink (e.g. <state_dir>/buffer/<sink>/) holds:
//
//	00000000000000000001.seg  segment files, named after the sequence number of
//	00000000000000004242.seg  their first entry (so names sort in log order)
//	ack                       the acknowledged position (two checksummed slots)
//	lock                      flock'ed while a Queue has the directory open
//	reported.json             damaged spans already reported (only after damage)
//
// A segment is a 16-byte header (magic, version, crc) followed by frames;
// see format.go for the bytes. Each frame carries a sync marker, the payload
// length, the entry's sequence number and a crc32c over all of them and the
// payload. A segment is rotated before a frame that would take it past
// Options.SegmentBytes.
//
// # Delivery
//
// Append assigns consecutive sequence numbers (Entry.Pos). Read and Next
// return entries after the read position; Ack(pos) marks everything up to
// pos delivered and persists that position; a restart resumes after the
// last acknowledged entry, so at most the entries read but not yet
// acknowledged are delivered twice (never lost). Rewind re-reads them
// without a restart.
//
// Delivered segments are deleted; the segment taking appends, once all of
// it is delivered, is emptied (renamed after the next sequence number and
// cut to its header) when it holds freeDrainedBytes, at every drain after
// an append failed (a full disk: those bytes are the room the next append
// needs) and at Open. See free.go.
//
// # Recovery
//
// Open scans every segment. A frame that is cut short, has a bad length,
// a bad checksum or a sequence number that does not grow is damage: the
// scanner looks for the next intact frame after it (the sync marker makes
// that possible). If one is found the damaged span is skipped in place;
// otherwise the span is the file's tail and is truncated away. Intact
// entries are always kept, in every segment. Each span is reported in
// Queue.Recovery() and logged, with its bytes and the number of
// undelivered entries lost, which is exact whenever an intact entry follows
// anywhere in the log (sequence numbers bound the gap) and counted from the
// frame headers for the log's very tail (a torn write). A span skipped in
// place stays in its file until the segment is delivered; later Opens list
// it again with Repeat set and do not count it again. Open fails only on
// I/O errors, a locked directory, or a segment written by a newer format
// version, which it does not touch.
//
// # Durability
//
// With SyncAlways (the default) Append returns after fsync, and a new
// segment's directory entry is fsynced when it is created, so an entry
// Append accepted survives power loss: the pipeline counts it as delivered.
// The ack position is fsynced by Ack. With SyncInterval both are fsynced
// every SyncEvery: a power loss may lose (or re-deliver) the last interval.
//
// # Concurrency
//
// One goroutine appends while another reads, acks and rewinds (the sink's
// feeder and drainer); Stats and Close may be called from any goroutine.
// Append and Read hold no common lock during file I/O.
//
// # Why not a library
//
// The candidates were looked at before writing this (November 2026):
//   - github.com/tidwall/wal (and its forks, e.g. zincsearch/wal): indexed
//     entries with TruncateFront, but no checksum in the binary format (a
//     uvarint length, then the data), Open fails with ErrCorrupt on a torn
//     tail instead of cutting it (only some forks add an "ignore corrupted
//     tail" option), no way to skip damage in the middle, no size cap or
//     blocking read, and TruncateFront rewrites the first segment's file.
//   - github.com/nsqio/go-diskqueue: length-prefixed messages without a
//     checksum, reading consumes (no separate acknowledgement, so a crash
//     between read and delivery loses the message), metadata synced every
//     N messages, and a damaged file is renamed ".bad" and skipped whole.
//   - newer queue/WAL modules (JohanLindvall/diskqueue, barnowlsnest/go-wallib):
//     close in spirit but young (both first published in 2026; diskqueue is
//     v0.0.x with no importers listed), and
//     go-wallib treats mid-log corruption as a hard error.
//
// None offers acknowledgement with deletion of consumed segments together
// with torn-tail repair and resynchronisation past damage, and each would
// add a dependency to audit for a component whose whole job is not to lose
// data. The format here is small (one frame layout, one ack file), fuzzed
// (FuzzSegmentReader) and corruption-tested at every byte offset.
package diskq
