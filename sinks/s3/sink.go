// Package s3 is the S3 sink: it writes records as objects to AWS S3 or any
// S3-compatible store (AWS SDK for Go v2): gzip'd NDJSON, one object per
// stream, tenant and day of each write, or Parquet of OCSF records, one
// object per OCSF class, tenant and day (or, for Amazon Security Lake, per
// custom source and day), cut at max_bytes/max_records.
//
// A write's records count as delivered only once the PUT (or the multipart
// upload's completion) of their object succeeded; a failed object fails its
// records, which the pipeline retries. An object's key is a hash of its
// records' ids, so a retried object has the same key and overwrites itself
// instead of leaving a duplicate.
package s3

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go"
	"github.com/klauspost/compress/gzip" // the standard library's API, about twice as fast

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Sink writes objects to a bucket. Write may be called for several batches
// at once (pipeline.ConcurrentSink, through Requests): each has its own
// buffers (write), the encoding runs one batch at a time (the encoder
// serves one goroutine), and every S3 call of all of them passes the one
// limiter of request.concurrency. An object's key depends only on its
// records, so batches written at once never collide.
type Sink struct {
	name   string
	cfg    Config
	log    *slog.Logger
	enc    encoding.Encoder
	encMu  sync.Mutex // enc
	client *awss3.Client

	lim              *httpout.Limiter
	httpout.Requests           // the limiter's metrics and ConcurrentBatches
	writes           sync.Pool // *write
	// lastBytes is the object bytes of the last Write (benchmarks and
	// tests, which write one batch at a time)
	lastBytes atomic.Int64
	objects   atomic.Int64 // objects written (tests)
}

// write is one Write's working state.
type write struct {
	e       httpout.Encoded
	classes []int64 // OCSF class_uid of each encoded record (parquet)
	docs    [][]byte
	zbuf    bytes.Buffer
	zw      *gzip.Writer
}

// New builds the sink and its S3 client (credentials are resolved lazily:
// Start checks them).
func New(name string, c Config, log *slog.Logger) (*Sink, error) {
	if log == nil {
		log = slog.Default()
	}
	log = log.With("sink", name)
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("s3 sink %q: %w", name, err)
	}
	enc, err := encoding.New(c.Format, encoding.Options{CEFStrict: c.CEFStrict, KeepDhost: c.KeepDhost,
		ECSExtras: c.ECSExtras, PreserveOriginalEvent: c.PreserveOriginalEvent,
		PreserveDuplicateCustomFields: c.PreserveDuplicateCustomFields, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("s3 sink %q: %w", name, err)
	}
	tc, err := c.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("s3 sink %q: %w", name, err)
	}
	// The SDK's own buildable client: it adds AWS_CA_BUNDLE (or the
	// shared config's ca_bundle) to the trusted CAs, which a plain
	// *http.Client cannot take.
	hc := awshttp.NewBuildableClient().WithTimeout(c.Timeout.D()).WithTransportOptions(func(tr *http.Transport) {
		if tc != nil {
			tr.TLSClientConfig = tc
		}
	})
	lim := httpout.NewLimiter(c.Request.Concurrency)
	client, err := newClient(context.Background(), c, hc, lim)
	if err != nil {
		return nil, fmt.Errorf("s3 sink %q: %w", name, err)
	}
	return &Sink{name: name, cfg: c, log: log, enc: enc, client: client,
		lim: lim, Requests: httpout.Requests{Limiter: lim, Sink: name}}, nil
}

// limitedClient passes every S3 call through the sink's limiter: at most
// request.concurrency in flight across the batches written at once, and
// (adaptive) each answer's status and round-trip time adjust it.
type limitedClient struct {
	lim  *httpout.Limiter
	next aws.HTTPClient
}

func (c limitedClient) Do(req *http.Request) (*http.Response, error) {
	return c.lim.Transport(roundTrip(c.next.Do)).RoundTrip(req)
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }

// newClient loads the AWS SDK's default chain (environment, shared config,
// web identity, container and instance roles), or the static keys, then
// wraps it in an assumed role when role_arn is set.
func newClient(ctx context.Context, c Config, hc *awshttp.BuildableClient, lim *httpout.Limiter) (*awss3.Client, error) {
	opts := []func(*awsconfig.LoadOptions) error{awsconfig.WithHTTPClient(hc)}
	if c.Region != "" {
		opts = append(opts, awsconfig.WithRegion(c.Region))
	}
	if c.AccessKeyID != "" {
		opts = append(opts, awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(c.AccessKeyID.Value(), c.SecretAccessKey.Value(), "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		if c.Endpoint == "" {
			return nil, errors.New("no region: set region (the bucket's, e.g. eu-west-1) or AWS_REGION")
		}
		cfg.Region = "us-east-1" // S3-compatible stores mostly ignore it, but SigV4 needs one
	}
	if c.RoleARN != "" {
		p := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(cfg), c.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = c.SessionName
			if c.ExternalID != "" {
				o.ExternalID = aws.String(c.ExternalID.Value())
			}
		})
		cfg.Credentials = aws.NewCredentialsCache(p)
	}
	return awss3.NewFromConfig(cfg, func(o *awss3.Options) {
		if c.Endpoint != "" {
			o.BaseEndpoint = aws.String(c.Endpoint)
			// S3-compatible stores differ in the newer flexible checksums;
			// the MD5 of each PUT (below) guards the bytes there.
			o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
			o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
		}
		o.UsePathStyle = c.ForcePathStyle
		// (the SDK's buildable client, with AWS_CA_BUNDLE added, inside)
		o.HTTPClient = limitedClient{lim, o.HTTPClient}
	}), nil
}

// Batch is the pipeline batch this sink wants: up to max_records records,
// gathered for up to max_age, so that objects are few and large.
func (s *Sink) Batch() (maxEvents int, linger time.Duration) {
	return s.cfg.MaxRecords, s.cfg.MaxAge.D()
}

// Close releases idle connections.
func (s *Sink) Close() error {
	if lc, ok := s.client.Options().HTTPClient.(limitedClient); ok {
		if b, ok := lc.next.(*awshttp.BuildableClient); ok {
			b.GetTransport().CloseIdleConnections()
		}
	}
	return nil
}

// Start checks the credentials, the region and the bucket (HeadBucket).
func (s *Sink) Start(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &awss3.HeadBucketInput{Bucket: aws.String(s.cfg.Bucket)})
	if err != nil {
		return fmt.Errorf("s3 sink %s: %w", s.name, s.explain(err))
	}
	s.log.Info("s3: connected", "bucket", s.cfg.Bucket, "layout", s.cfg.Layout, "object", s.cfg.Object)
	return nil
}

// object is the records of one object: positions in its write's e.
type object struct {
	key   string // the group's prefix until the name is added
	items []int
}

// Write encodes the batch, groups it into objects and uploads each; the
// records of an object that failed are retried, the rest are delivered.
func (s *Sink) Write(ctx context.Context, batch []*pipeline.Record) error {
	if len(batch) == 0 {
		return nil
	}
	// past the limiter's room the batch waits here, before it is encoded
	if err := s.lim.AdmitBatch(ctx); err != nil {
		return err
	}
	defer s.lim.DoneBatch()
	w, be, objs := s.prepare(batch)
	defer s.release(w)
	outcomes := make([]error, w.e.Len())
	size := 0
	for _, o := range objs {
		if err := ctx.Err(); err != nil {
			s.fail(outcomes, o, err)
			continue
		}
		n, err := s.upload(ctx, w, o)
		size += n
		if err != nil {
			s.fail(outcomes, o, err)
			continue
		}
		s.objects.Add(1)
	}
	s.lastBytes.Store(int64(size))
	return httpout.BatchError(&w.e, outcomes, be)
}

// prepare encodes the batch into a write of its own and cuts it into
// objects; give the write back with release.
func (s *Sink) prepare(batch []*pipeline.Record) (*write, *pipeline.BatchError, []object) {
	w, _ := s.writes.Get().(*write)
	if w == nil {
		w = &write{}
		w.zw, _ = gzip.NewWriterLevel(nil, gzip.BestSpeed)
	}
	enc := s.encodeLine
	if s.cfg.Object == "parquet" {
		enc = s.encodeDoc
	}
	s.encMu.Lock()
	be := w.e.Encode(batch, "s3: encoding "+s.cfg.Format, enc)
	s.encMu.Unlock()
	w.classes = w.classes[:0]
	if s.cfg.Object == "parquet" {
		for i := 0; i < w.e.Len(); i++ {
			w.classes = append(w.classes, classUID(w.e.Record(i)))
		}
	}
	return w, be, s.group(w, batch)
}

// release gives a write's buffers back (an object's worth of them: up to
// max_bytes, plus its compressed copy).
func (s *Sink) release(w *write) {
	clear(w.docs)
	w.docs = w.docs[:0]
	s.writes.Put(w)
}

// classUID reads the top-level class_uid of an OCSF record, which the
// ocsf encoder writes before any nested object (0 if absent).
func classUID(doc []byte) int64 {
	i := bytes.Index(doc, []byte(`"class_uid":`))
	if i < 0 || bytes.LastIndexByte(doc[:i], '{') != 0 {
		var c struct {
			ClassUID int64 `json:"class_uid"`
		}
		_ = json.Unmarshal(doc, &c)
		return c.ClassUID
	}
	n, j := int64(0), i+len(`"class_uid":`)
	for ; j < len(doc) && doc[j] >= '0' && doc[j] <= '9'; j++ {
		n = n*10 + int64(doc[j]-'0')
	}
	return n
}

func (s *Sink) fail(outcomes []error, o object, err error) {
	for _, i := range o.items {
		outcomes[i] = err
	}
}

// encodeLine is one NDJSON line.
func (s *Sink) encodeLine(dst []byte, r *pipeline.Record) ([]byte, error) {
	start := len(dst)
	dst, err := s.enc.Append(dst, r)
	if err != nil {
		return dst, err
	}
	if bytes.IndexByte(dst[start:], '\n') >= 0 {
		return dst[:start], errors.New("the encoded record spans lines; NDJSON needs one line per record (cef_strict escapes newlines)")
	}
	return append(dst, '\n'), nil
}

// encodeDoc is one JSON document (a Parquet row).
func (s *Sink) encodeDoc(dst []byte, r *pipeline.Record) ([]byte, error) {
	return s.enc.Append(dst, r)
}

// group cuts the encoded records into objects: one group per key prefix
// (stream, tenant, day), in the order groups first appear, each cut at
// max_bytes and max_records. The cut depends only on the group's own
// records, so a retried group is cut (and named) the same way.
func (s *Sink) group(w *write, batch []*pipeline.Record) []object {
	var order []string
	groups := map[string][]int{}
	// a batch has few prefixes: each is built once (not once per record)
	prefixes := map[prefixKey]string{}
	for i := 0; i < w.e.Len(); i++ {
		r := batch[w.e.Index[i]]
		k, t := s.prefixKey(w, r, i)
		p, ok := prefixes[k]
		if !ok {
			p = s.prefix(k, t)
			prefixes[k] = p
		}
		if _, ok := groups[p]; !ok {
			order = append(order, p)
		}
		groups[p] = append(groups[p], i)
	}
	var out []object
	for _, p := range order {
		items := groups[p]
		lo, size := 0, 0
		for j, i := range items {
			n := len(w.e.Record(i))
			if j > lo && (size+n > int(s.cfg.MaxBytes) || j-lo >= s.cfg.MaxRecords) {
				out = append(out, s.named(w, p, items[lo:j], batch))
				lo, size = j, 0
			}
			size += n
		}
		out = append(out, s.named(w, p, items[lo:], batch))
	}
	return out
}

// named gives an object its key: the prefix, then a hash of its records'
// ids (the raw item when a record has none), then the record count.
func (s *Sink) named(w *write, prefix string, items []int, batch []*pipeline.Record) object {
	h := sha256.New()
	h.Write([]byte(prefix))
	for _, i := range items {
		r := batch[w.e.Index[i]]
		if r.ID != "" {
			h.Write([]byte(r.ID))
		} else {
			h.Write(r.Raw)
		}
		h.Write([]byte{0})
	}
	name := fmt.Sprintf("%s-%d.%s", hex.EncodeToString(h.Sum(nil)[:12]), len(items), s.cfg.Object)
	return object{key: prefix + name, items: items}
}

// prefixKey is what a record's prefix depends on: its stream, tenant, OCSF
// class and day.
type prefixKey struct {
	stream pipeline.Stream
	tenant string
	class  int64
	day    int64
}

// prefixKey is the key of a record (w.e's record i) and its time: when,
// else created_at, else now, UTC.
func (s *Sink) prefixKey(w *write, r *pipeline.Record, i int) (prefixKey, time.Time) {
	t := r.WhenTime()
	if t.IsZero() {
		t = time.Now()
	}
	t = t.UTC()
	k := prefixKey{stream: r.Stream, tenant: r.Tenant, day: t.Unix() / 86400}
	if t.Unix() < 0 && t.Unix()%86400 != 0 {
		k.day-- // days before 1970 round down too
	}
	if s.cfg.Object == "parquet" {
		k.class = w.classes[i]
	}
	return k, t
}

// prefix is the folder of the objects of key k (t: a time of its day):
//
//	plain, ndjson.gz:  <prefix><stream>/tenant=<tenant>/dt=<YYYY-MM-DD>/
//	plain, parquet:    <prefix>ocsf/class_uid=<uid>/tenant=<tenant>/dt=<YYYY-MM-DD>/
//	security_lake:     ext/<source>/region=<region>/accountId=<account>/eventDay=<YYYYMMDD>/
func (s *Sink) prefix(k prefixKey, t time.Time) string {
	if s.cfg.Layout == "security_lake" {
		return "ext/" + s.source(k.class) + "/region=" + s.cfg.Region + "/accountId=" + s.cfg.AccountID + "/eventDay=" + t.Format("20060102") + "/"
	}
	tenant := k.tenant
	if tenant == "" {
		tenant = "none"
	}
	var b strings.Builder
	b.WriteString(s.cfg.Prefix)
	if s.cfg.Object == "parquet" {
		fmt.Fprintf(&b, "ocsf/class_uid=%d", k.class)
	} else {
		b.WriteString(string(k.stream))
	}
	b.WriteString("/tenant=")
	b.WriteString(keySafe(tenant))
	b.WriteString("/dt=")
	b.WriteString(t.Format("2006-01-02"))
	b.WriteByte('/')
	return b.String()
}

// source is the Security Lake custom source of an OCSF class: a custom
// source takes one class.
func (s *Sink) source(classUID int64) string {
	if name, ok := s.cfg.Sources[int(classUID)]; ok {
		return name
	}
	return fmt.Sprintf("%s-%d", s.cfg.Source, classUID)
}

// keySafe keeps a key segment to characters S3 and its tools handle well.
func keySafe(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, s)
}

// upload builds the object and PUTs it (multipart when it is larger than
// part_size); n is the object's size.
func (s *Sink) upload(ctx context.Context, w *write, o object) (n int, err error) {
	body, contentType, err := s.build(w, o)
	if err != nil {
		return 0, err
	}
	if len(body) > int(s.cfg.PartSize) {
		err = s.multipart(ctx, o.key, body, contentType)
	} else {
		_, err = s.client.PutObject(ctx, &awss3.PutObjectInput{
			Bucket: aws.String(s.cfg.Bucket), Key: aws.String(o.key), Body: bytes.NewReader(body),
			ContentType: aws.String(contentType), ContentLength: aws.Int64(int64(len(body))),
			ContentMD5: aws.String(md5Base64(body)),
		})
	}
	if err != nil {
		return len(body), fmt.Errorf("s3 put s3://%s/%s: %w", s.cfg.Bucket, o.key, s.explain(err))
	}
	return len(body), nil
}

// build is the object's bytes (gzip'd lines, or Parquet) and content type.
func (s *Sink) build(w *write, o object) ([]byte, string, error) {
	contentType := "application/gzip"
	if s.cfg.Object == "parquet" {
		contentType = "application/vnd.apache.parquet"
		w.docs = w.docs[:0]
		for _, i := range o.items {
			w.docs = append(w.docs, w.e.Record(i))
		}
		if err := parquetObject(&w.zbuf, w.docs); err != nil {
			return nil, "", pipeline.Permanent(fmt.Errorf("s3 object s3://%s/%s: %w", s.cfg.Bucket, o.key, err))
		}
	} else {
		w.zbuf.Reset()
		w.zw.Reset(&w.zbuf)
		for _, i := range o.items {
			w.zw.Write(w.e.Record(i)) // writes to a bytes.Buffer do not fail
		}
		w.zw.Close()
	}
	return w.zbuf.Bytes(), contentType, nil
}

// multipart uploads body in part_size parts; the object exists (and its
// records count as delivered) only once the upload is completed. A failed
// upload is aborted, so no parts are left behind to bill.
func (s *Sink) multipart(ctx context.Context, key string, body []byte, contentType string) error {
	cr, err := s.client.CreateMultipartUpload(ctx, &awss3.CreateMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), ContentType: aws.String(contentType),
	})
	if err != nil {
		return err
	}
	abort := func(cause error) error {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := s.client.AbortMultipartUpload(actx, &awss3.AbortMultipartUploadInput{
			Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: cr.UploadId}); err != nil {
			s.log.Warn("s3: aborting a failed multipart upload failed; a lifecycle rule (AbortIncompleteMultipartUpload) cleans it up", "key", key, "error", err)
		}
		return cause
	}
	var parts []types.CompletedPart
	size := int(s.cfg.PartSize)
	for n, off := int32(1), 0; off < len(body); n, off = n+1, off+size {
		part := body[off:min(off+size, len(body))]
		up, err := s.client.UploadPart(ctx, &awss3.UploadPartInput{
			Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: cr.UploadId, PartNumber: aws.Int32(n),
			Body: bytes.NewReader(part), ContentLength: aws.Int64(int64(len(part))), ContentMD5: aws.String(md5Base64(part)),
		})
		if err != nil {
			return abort(fmt.Errorf("part %d: %w", n, err))
		}
		parts = append(parts, types.CompletedPart{ETag: up.ETag, PartNumber: aws.Int32(n)})
	}
	if _, err := s.client.CompleteMultipartUpload(ctx, &awss3.CompleteMultipartUploadInput{
		Bucket: aws.String(s.cfg.Bucket), Key: aws.String(key), UploadId: cr.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		return abort(fmt.Errorf("completing the multipart upload: %w", err))
	}
	return nil
}

// explain adds the fix to the S3 errors a configuration causes.
func (s *Sink) explain(err error) error {
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.ErrorCode() {
	case "NoSuchBucket", "NotFound":
		return fmt.Errorf("%w: check bucket %q (and region/endpoint)", err, s.cfg.Bucket)
	case "AccessDenied", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return fmt.Errorf("%w: check the credentials and that they may s3:PutObject (and s3:ListBucket for the start-up check) on bucket %q", err, s.cfg.Bucket)
	case "PermanentRedirect", "AuthorizationHeaderMalformed", "301":
		return fmt.Errorf("%w: the bucket is in another region: set region to the bucket's", err)
	}
	return err
}

var _ pipeline.Sink = (*Sink)(nil)
