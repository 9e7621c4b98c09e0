package s3

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/sophos-connect/sophos-connect/config"
	"github.com/sophos-connect/sophos-connect/sinks/encoding"
	"github.com/sophos-connect/sophos-connect/sinks/httpout"
)

// Config is the s3 sink's own keys (the pipeline handles name, type,
// streams, when, buffer and retry; max_records and max_age are this sink's
// batch).
type Config struct {
	// Bucket is the bucket name.
	Bucket string `yaml:"bucket"`
	// Region is the bucket's region (default: the AWS SDK's chain,
	// AWS_REGION or the shared config's region).
	Region string `yaml:"region"`
	// Endpoint is an S3-compatible store's URL (default: AWS).
	Endpoint string `yaml:"endpoint"`
	// ForcePathStyle addresses the bucket as <endpoint>/<bucket> instead of
	// <bucket>.<endpoint> (most S3-compatible stores need it).
	ForcePathStyle bool `yaml:"force_path_style"`
	// Prefix starts every object key (layout plain; default sophos-central/).
	Prefix string `yaml:"prefix"`
	// Layout is plain (default: <prefix><stream>/tenant=<id>/dt=<day>/, or
	// <prefix>ocsf/class_uid=<uid>/tenant=<id>/dt=<day>/ for Parquet) or
	// security_lake (ext/<source>/region=<region>/accountId=<account>/eventDay=<YYYYMMDD>/,
	// Parquet of format ocsf).
	Layout string `yaml:"layout"`
	// Object is the object format: ndjson.gz (default) or parquet (format
	// ocsf; one OCSF class per object and prefix).
	Object string `yaml:"object"`
	// Format is the encoding of each record (default raw; ocsf for parquet).
	Format string `yaml:"format"`
	// AccountID is the AWS account id of the Security Lake custom sources
	// (layout security_lake).
	AccountID string `yaml:"account_id"`
	// Source is the Security Lake custom source name stem (default
	// sophos-central): records of OCSF class <uid> go to the custom source
	// <source>-<uid>, unless Sources names it.
	Source string `yaml:"source"`
	// Sources names the custom source of an OCSF class (class_uid → name),
	// e.g. 2004: sophos-detections.
	Sources map[int]string `yaml:"sources"`
	// Options are the encoders' options (cef_strict, ...).
	encoding.Options `yaml:",inline"`
	// MaxBytes bounds an object's records before compression (default 64MiB).
	MaxBytes config.ByteSize `yaml:"max_bytes"`
	// MaxRecords bounds an object's records (default 50000); it is also the
	// most records one write gathers.
	MaxRecords int `yaml:"max_records"`
	// MaxAge is how long a write waits for more records before its objects
	// are written (default 5m).
	MaxAge config.Duration `yaml:"max_age"`
	// PartSize is the multipart part size: a compressed object larger than
	// it is uploaded in parts (default 16MiB; at least 5MiB, S3's minimum).
	PartSize config.ByteSize `yaml:"part_size"`
	// AccessKeyID and SecretAccessKey are static credentials (default: the
	// AWS SDK's chain: environment, shared config and credentials files, web
	// identity (IRSA), ECS/EC2 instance role).
	AccessKeyID config.Secret `yaml:"access_key_id"`
	// SecretAccessKey goes with AccessKeyID.
	SecretAccessKey config.Secret `yaml:"secret_access_key"`
	// RoleARN is a role to assume with those credentials (optional).
	RoleARN string `yaml:"role_arn"`
	// ExternalID is the external id the role's trust policy requires.
	ExternalID config.Secret `yaml:"external_id"`
	// SessionName names the assumed role's session (default sophos-connect).
	SessionName string `yaml:"session_name"`
	// TLS is the client TLS block (an S3-compatible store's CA, ...).
	TLS config.TLS `yaml:"tls"`
	// Timeout bounds each S3 call (default 5m: large objects).
	Timeout config.Duration `yaml:"timeout"`
	// Request is the request block: concurrency (adaptive, the default, or
	// 1 to 64) bounds the S3 calls in flight, across the batches written at
	// once.
	Request httpout.RequestConfig `yaml:"request"`
}

// Defaults and limits.
const (
	DefaultPrefix     = "sophos-central/"
	DefaultMaxBytes   = 64 << 20
	DefaultMaxRecords = 50_000
	DefaultMaxAge     = 5 * time.Minute
	DefaultPartSize   = 16 << 20
	MinPartSize       = 5 << 20 // S3's minimum part size (all parts but the last)
	MaxParts          = 10_000
	DefaultTimeout    = 5 * time.Minute
	DefaultSession    = "sophos-connect"
	DefaultSource     = "sophos-central"
)

// DefaultConfig returns the defaults: layout plain under sophos-central/,
// ndjson.gz objects of format raw, at most 64 MiB / 50000 records / 5
// minutes each, 16 MiB parts, the AWS SDK's credential chain.
func DefaultConfig() Config {
	return Config{
		Prefix:      DefaultPrefix,
		Layout:      "plain",
		Object:      "ndjson.gz",
		Format:      "raw",
		MaxBytes:    DefaultMaxBytes,
		MaxRecords:  DefaultMaxRecords,
		MaxAge:      config.Duration(DefaultMaxAge),
		PartSize:    DefaultPartSize,
		Source:      DefaultSource,
		SessionName: DefaultSession,
		Timeout:     config.Duration(DefaultTimeout),
	}
}

var (
	bucketRe = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	regionRe = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)
	roleRe   = regexp.MustCompile(`^arn:aws[a-z-]*:iam::\d{12}:role/.+$`)
	acctRe   = regexp.MustCompile(`^\d{12}$`)
	sourceRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
)

// Validate checks the keys, naming each bad one and the fix.
func (c *Config) Validate() error {
	var errs config.Errors
	bad := func(key, format string, a ...any) {
		errs = append(errs, &config.FieldError{Key: key, Msg: fmt.Sprintf(format, a...)})
	}
	if !bucketRe.MatchString(c.Bucket) {
		bad("bucket", "%q is not a bucket name: 3 to 63 lower-case letters, digits, dots and hyphens (the name only, not s3://… or a URL)", c.Bucket)
	}
	if c.Region != "" && !regionRe.MatchString(c.Region) && c.Endpoint == "" {
		bad("region", "%q is not an AWS region, e.g. eu-west-1", c.Region)
	}
	if c.Endpoint != "" {
		if u, err := url.Parse(c.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("endpoint", "%q is not an http(s) URL: an S3-compatible store's address, e.g. https://s3.example:8333 (leave it out for AWS)", httpout.RedactURL(c.Endpoint))
		} else if u.User != nil {
			bad("endpoint", "must not carry credentials: use access_key_id and secret_access_key, or the AWS credential chain")
		}
	}
	if strings.HasPrefix(c.Prefix, "/") {
		bad("prefix", "%q must not start with /: keys are relative to the bucket, e.g. sophos-central/", c.Prefix)
	}
	switch c.Layout {
	case "plain":
	case "security_lake":
		if c.Object != "parquet" {
			bad("layout", "security_lake takes Parquet objects of OCSF records: set object: parquet and format: ocsf")
		}
		if !acctRe.MatchString(c.AccountID) {
			bad("account_id", "%q is not an AWS account id (12 digits): the account of the Security Lake custom sources, needed by layout security_lake", c.AccountID)
		}
		if c.Region == "" {
			bad("region", "missing: layout security_lake names the region in every key (region=<region>/), e.g. eu-west-1")
		}
	default:
		bad("layout", "%q is not plain or security_lake", c.Layout)
	}
	switch c.Object {
	case "ndjson.gz":
	case "parquet":
		if c.Format != "ocsf" {
			bad("format", "%q cannot be written as Parquet: object parquet takes format ocsf (one OCSF class per object)", c.Format)
		}
	default:
		bad("object", "%q is not ndjson.gz or parquet", c.Object)
	}
	if !slices.Contains(encoding.Formats, c.Format) {
		bad("format", "%q is not one of %s", c.Format, strings.Join(encoding.Formats, ", "))
	}
	if !sourceRe.MatchString(c.Source) {
		bad("source", "%q is not a custom source name (letters, digits, - and _; default %s)", c.Source, DefaultSource)
	}
	for uid, name := range c.Sources {
		if uid <= 0 || !sourceRe.MatchString(name) {
			bad("sources", "%d: %q: want an OCSF class_uid and a custom source name (letters, digits, - and _), e.g. 2004: sophos-detections", uid, name)
		}
	}
	if c.MaxBytes < 1024 {
		bad("max_bytes", "%d is too small: use at least 1KiB (default 64MiB)", c.MaxBytes)
	}
	if c.MaxRecords < 1 || c.MaxRecords > 100_000 {
		bad("max_records", "%d is out of range: 1 to 100000 (default %d)", c.MaxRecords, DefaultMaxRecords)
	}
	if c.MaxAge <= 0 {
		bad("max_age", "must be positive, e.g. 5m")
	}
	if c.PartSize < MinPartSize {
		bad("part_size", "%d is below S3's minimum part size of 5MiB (default 16MiB)", c.PartSize)
	} else if int64(c.MaxBytes) > int64(c.PartSize)*MaxParts {
		bad("part_size", "too small for max_bytes: S3 takes at most 10000 parts (use at least %dMiB)", int64(c.MaxBytes)/MaxParts>>20+1)
	}
	if (c.AccessKeyID == "") != (c.SecretAccessKey == "") {
		bad("access_key_id", "access_key_id and secret_access_key go together (or leave both out for the AWS credential chain)")
	}
	if c.RoleARN != "" && !roleRe.MatchString(c.RoleARN) {
		bad("role_arn", "%q is not a role ARN, e.g. arn:aws:iam::123456789012:role/sophos-connect-writer", c.RoleARN)
	}
	if c.ExternalID != "" && c.RoleARN == "" {
		bad("external_id", "only applies with role_arn")
	}
	if err := c.TLS.Validate(); err != nil {
		bad("tls", "%v", err)
	}
	if c.Timeout <= 0 {
		bad("timeout", "must be positive, e.g. 5m")
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}
