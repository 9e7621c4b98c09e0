package useragent

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestTransportSetsUserAgent(t *testing.T) {
	SetVersion("9.9.9")
	got := make(chan string, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.UserAgent() }))
	defer srv.Close()
	c := &http.Client{Transport: Transport(nil)}
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("User-Agent", "go-elasticsearch/8")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ua := <-got; ua != "sophos-connect/9.9.9" {
		t.Fatalf("User-Agent %q", ua)
	}
	if req.Header.Get("User-Agent") != "go-elasticsearch/8" {
		t.Fatal("the caller's request was changed")
	}
	// One the operator set (an http sink's headers) is kept.
	req.Header.Set("User-Agent", "my-collector")
	res, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if ua := <-got; ua != "my-collector" {
		t.Fatalf("User-Agent %q, want the operator's", ua)
	}
}
