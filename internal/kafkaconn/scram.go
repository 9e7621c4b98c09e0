package kafkaconn

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strconv"
	"strings"

	"github.com/segmentio/kafka-go/sasl"
)

// scramMechanism is a SCRAM-SHA-256/512 client (RFC 5802, no channel
// binding), written on the standard library because kafka-go's sasl/scram
// pulls in a module this project does not otherwise need. Usernames are
// escaped as the RFC requires; SASLprep is not applied (it only changes
// non-ASCII credentials).
type scramMechanism struct {
	name     string // SCRAM-SHA-256 or SCRAM-SHA-512
	hash     func() hash.Hash
	user     string
	password string
}

func newScram(mech, user, password string) *scramMechanism {
	m := &scramMechanism{name: "SCRAM-SHA-256", hash: sha256.New, user: user, password: password}
	if mech == "scram-sha-512" {
		m.name, m.hash = "SCRAM-SHA-512", sha512.New
	}
	return m
}

// Name implements sasl.Mechanism.
func (m *scramMechanism) Name() string { return m.name }

// String and GoString never show the password.
func (m *scramMechanism) String() string   { return m.name + " as " + m.user }
func (m *scramMechanism) GoString() string { return m.String() }

// Start sends client-first-message: "n,," + "n=user,r=nonce".
func (m *scramMechanism) Start(ctx context.Context) (sasl.StateMachine, []byte, error) {
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return nil, nil, err
	}
	nonce := base64.RawStdEncoding.EncodeToString(raw)
	user := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(m.user)
	bare := "n=" + user + ",r=" + nonce
	return &scramSession{m: m, nonce: nonce, bare: bare}, []byte("n,," + bare), nil
}

type scramSession struct {
	m         *scramMechanism
	nonce     string
	bare      string
	serverSig []byte // expected server signature, set after the first step
	step      int
}

// maxScramIterations refuses a server that asks for absurd work.
const maxScramIterations = 1 << 20

// Next answers server-first-message with client-final-message, then checks
// the server's signature in server-final-message.
func (s *scramSession) Next(ctx context.Context, challenge []byte) (bool, []byte, error) {
	switch s.step {
	case 0:
		s.step++
		return s.final(challenge)
	case 1:
		s.step++
		attrs := scramAttrs(string(challenge))
		if e, ok := attrs["e"]; ok {
			return false, nil, fmt.Errorf("scram: server rejected the authentication: %s", e)
		}
		v, err := base64.StdEncoding.DecodeString(attrs["v"])
		if err != nil || !hmac.Equal(v, s.serverSig) {
			return false, nil, errors.New("scram: the server's signature does not match: it does not know this user's credentials")
		}
		return true, nil, nil
	}
	return false, nil, errors.New("scram: unexpected extra challenge")
}

func (s *scramSession) final(serverFirst []byte) (bool, []byte, error) {
	attrs := scramAttrs(string(serverFirst))
	if _, ok := attrs["m"]; ok {
		return false, nil, errors.New("scram: server requires an unsupported extension")
	}
	nonce, salt64, iter64 := attrs["r"], attrs["s"], attrs["i"]
	if !strings.HasPrefix(nonce, s.nonce) || len(nonce) == len(s.nonce) {
		return false, nil, errors.New("scram: server nonce does not extend the client nonce")
	}
	salt, err := base64.StdEncoding.DecodeString(salt64)
	if err != nil || len(salt) == 0 {
		return false, nil, errors.New("scram: invalid salt from server")
	}
	iter, err := strconv.Atoi(iter64)
	if err != nil || iter < 1 || iter > maxScramIterations {
		return false, nil, fmt.Errorf("scram: invalid iteration count %q from server", iter64)
	}
	h := s.m.hash
	salted, err := pbkdf2.Key(h, s.m.password, salt, iter, h().Size())
	if err != nil {
		return false, nil, fmt.Errorf("scram: %w", err)
	}
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	sum := h()
	sum.Write(clientKey)
	storedKey := sum.Sum(nil)

	withoutProof := "c=biws,r=" + nonce // biws = base64("n,,")
	authMessage := []byte(s.bare + "," + string(serverFirst) + "," + withoutProof)
	proof := hmacSum(h, storedKey, authMessage)
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	s.serverSig = hmacSum(h, hmacSum(h, salted, []byte("Server Key")), authMessage)

	var out bytes.Buffer
	out.WriteString(withoutProof)
	out.WriteString(",p=")
	out.WriteString(base64.StdEncoding.EncodeToString(proof))
	return false, out.Bytes(), nil
}

func hmacSum(h func() hash.Hash, key, msg []byte) []byte {
	mac := hmac.New(h, key)
	mac.Write(msg)
	return mac.Sum(nil)
}

// scramAttrs splits "a=x,b=y" (values may contain '=').
func scramAttrs(msg string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(msg, ",") {
		if k, v, ok := strings.Cut(part, "="); ok && len(k) == 1 {
			out[k] = v
		}
	}
	return out
}
