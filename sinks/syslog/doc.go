// Package syslog is the syslog sink: RFC 3164 (default for format cef, with
// the CEF convention's header "<PRI>Mmm dd hh:mm:ss HOST CEF:0|…") or RFC
// 5424 (default for the other formats) messages over udp://, tcp://,
// tcp+tls://, relp://, relp+tls:// or unix:// (datagram or stream), with
// LF framing (default on tcp:// and unix streams, what every receiver
// reads) or RFC 6587 octet counting (default on tcp+tls://, as RFC 5425
// requires), and the MSG written by a shared encoder (sinks/encoding,
// default cef).
//
// RFC 5424 messages carry HOSTNAME, APP-NAME sophos-connect, PROCID, MSGID
// alert or event, TIMESTAMP from the record's `when` (now when it has
// none) and the structured data [sophos@32473 id="…" tenant="…"]; the
// header is built with go-syslog's rfc5424 builder. RFC 3164 messages are
// "<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG" in local time (timezone).
//
// Messages over max_message_bytes (8192 on datagrams and RELP, 65535 on
// streams) are cut at an encoder field boundary and the full record is
// dead-lettered with reason "truncated", or (oversize: dead_letter) only
// dead-lettered; never cut silently.
//
// # Delivery
//
// Over relp:// a record counts as delivered only when the receiver's
// "rsp 200" for it arrived (package relp); what was unacknowledged when a
// session broke is reported as failed and sent again.
//
// Over the other transports a record counts as delivered once its bytes
// were written to the socket without error. Plain syslog has no receiver
// acknowledgement: bytes the kernel accepted and a dying receiver never
// read are lost without any error the sender could see, and UDP datagrams
// may be dropped anywhere. To narrow that window the sink checks an
// established stream before every batch for a close the receiver already
// sent (a non-blocking peek that sees EOF or a reset) and reconnects
// instead of writing the batch into a dead socket, so a restarted receiver
// does not eat the next batch. A write error closes the connection; Write
// reports the records not written and the pipeline retries them (with its
// backoff) through a new connection.
package syslog
