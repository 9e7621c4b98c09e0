// Package httpout holds what the HTTP sinks (splunk_hec, sentinel, http,
// otlp) share: the client (TLS, same-origin redirects), building a request
// (gzip, content type, headers, basic/bearer auth), the credentials to hide
// in a receiver's answer (Secrets) and in a URL (RedactURL), cutting
// encoded records into requests by bytes, the
// classification of a response into delivered / retry / reject / split,
// Retry-After, settling a request by splitting it until the record a
// receiver refuses is alone, and an OAuth2 client-credentials token source.
//
// It knows nothing about a particular receiver: each sink maps its
// receiver's answers onto a Result and lets Settle do the rest.
package httpout
