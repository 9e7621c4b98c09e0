package s3

import (
	"crypto/md5"
	"encoding/base64"
)

// md5Base64 is a body's Content-MD5: the store refuses a PUT whose bytes
// were damaged on the way.
func md5Base64(b []byte) string {
	sum := md5.Sum(b)
	return base64.StdEncoding.EncodeToString(sum[:])
}
