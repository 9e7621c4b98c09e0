// Package syslog is the syslog sink: RFC 5424 (default) or RFC 3164
// messages over udp://, tcp://, tcp+tls:// or unix:// (datagram or stream),
// with RFC 6587 octet-counting (default on streams) or LF framing, and the
// MSG written by a shared encoder (sinks/encoding, default cef).
//
// RFC 5424 messages carry HOSTNAME, APP-NAME sophos-connect, PROCID, MSGID
// alert or event, TIMESTAMP from the record's `when` (now when it has
// none) and the structured data [sophos@32473 id="…" tenant="…"]; the
// header is built with go-syslog's rfc5424 builder. RFC 3164 messages are
// "<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG" with the time in UTC.
//
// # Delivery
//
// A record counts as delivered once its bytes were written to the socket
// without error. Plain syslog has no receiver acknowledgement: bytes the
// kernel accepted and a dying receiver never read are lost without any
// error the sender could see, and UDP datagrams may be dropped anywhere.
// To narrow that window the sink checks an established stream before every
// batch for a close the receiver already sent (a non-blocking peek that
// sees EOF or a reset) and reconnects instead of writing the batch into a
// dead socket, so a restarted receiver does not eat the next batch. A
// write error closes the connection; Write reports the records not written
// and the pipeline retries them (with its backoff) through a new
// connection. Receivers wanting stronger guarantees should use RELP or a
// sink with acknowledgements (Kafka, Elasticsearch).
package syslog
