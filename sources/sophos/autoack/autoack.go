// Package autoack acknowledges Sophos alerts once they have been delivered,
// as the seed's alerts_auto_acknowledge_status did — but only after every
// sink has the alert (never before), without ever holding up forwarding.
package autoack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/sophos-connect/sophos-connect/pipeline"
	"github.com/sophos-connect/sophos-connect/sources/sophos"
)

// Levels maps alerts_auto_acknowledge_level to the severities acknowledged
// (the seed's table: low → low; medium → low, medium; high → all three).
func Levels(level string) (map[string]bool, error) {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "low":
		return map[string]bool{"low": true}, nil
	case "medium":
		return map[string]bool{"low": true, "medium": true}, nil
	case "high":
		return map[string]bool{"low": true, "medium": true, "high": true}, nil
	}
	return nil, fmt.Errorf("alerts_auto_acknowledge_level %q: use low, medium or high", level)
}

// Acker is a pipeline.DeliveryObserver: Delivered queues the delivered
// alerts at or below the level, and a worker acknowledges them through the
// Common API, retrying a failure a few times before logging it.
type Acker struct {
	client   *sophos.Client
	tenants  func(id string) (sophos.Tenant, bool)
	severity map[string]bool
	log      *slog.Logger
	attempts int
	backoff  time.Duration

	mu      sync.Mutex
	queue   []job
	wake    chan struct{}
	stop    chan struct{}
	done    chan struct{}
	dropped int

	acked, failed int
}

type job struct{ tenant, id string }

// maxQueue bounds memory if Sophos refuses acknowledgements for a long time.
const maxQueue = 100000

// New starts the worker. tenants resolves a tenant id to its API host.
func New(client *sophos.Client, tenants func(id string) (sophos.Tenant, bool), level string, log *slog.Logger) (*Acker, error) {
	sev, err := Levels(level)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	a := &Acker{client: client, tenants: tenants, severity: sev, log: log, attempts: 3, backoff: time.Second,
		wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go a.run()
	return a, nil
}

// Delivered implements pipeline.DeliveryObserver. It never blocks.
func (a *Acker) Delivered(records []*pipeline.Record) {
	a.mu.Lock()
	n := 0
	for _, r := range records {
		if r.Stream != pipeline.Alerts || !a.severity[strings.ToLower(r.Severity)] {
			continue
		}
		if !r.WasDelivered() || r.IsGap() {
			continue // dead-lettered, or routed to no sink: nobody has it
		}
		if len(a.queue) >= maxQueue {
			a.dropped++
			continue
		}
		a.queue = append(a.queue, job{r.Tenant, r.ID})
		n++
	}
	a.mu.Unlock()
	if n > 0 {
		select {
		case a.wake <- struct{}{}:
		default:
		}
	}
}

func (a *Acker) run() {
	defer close(a.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { <-a.stop; cancel() }()
	for {
		a.mu.Lock()
		if a.dropped > 0 {
			a.log.Error(fmt.Sprintf("auto-acknowledge: %d alert(s) were not queued because %d acknowledgements are already waiting; acknowledge them in Sophos Central", a.dropped, maxQueue))
			a.dropped = 0
		}
		if len(a.queue) == 0 {
			a.mu.Unlock()
			select {
			case <-a.wake:
				continue
			case <-a.stop:
				return
			}
		}
		j := a.queue[0]
		a.queue = a.queue[1:]
		a.mu.Unlock()
		a.ack(ctx, j)
		if ctx.Err() != nil {
			return
		}
	}
}

func (a *Acker) ack(ctx context.Context, j job) {
	t, ok := a.tenants(j.tenant)
	if !ok {
		a.log.Error(fmt.Sprintf("auto-acknowledge alert %s: unknown tenant %s", j.id, j.tenant))
		return
	}
	var err error
	for attempt := 1; attempt <= a.attempts; attempt++ {
		var res *sophos.AlertAction
		res, err = a.client.Acknowledge(ctx, t, j.id)
		if alreadyAcknowledged(err) {
			a.mu.Lock()
			a.acked++
			a.mu.Unlock()
			a.log.Log(ctx, pipeline.LevelVerbose, fmt.Sprintf("Alert ID %s was already acknowledged", j.id), "source", "Alerts")
			return
		}
		if err == nil {
			a.mu.Lock()
			a.acked++
			a.mu.Unlock()
			a.log.Log(ctx, pipeline.LevelVerbose, fmt.Sprintf("Auto Acknowledged Alert ID: %s %s", j.id, describe(res)), "source", "Alerts")
			return
		}
		if ctx.Err() != nil {
			return
		}
		select {
		case <-time.After(a.backoff * time.Duration(attempt)):
		case <-ctx.Done():
			return
		}
	}
	a.mu.Lock()
	a.failed++
	a.mu.Unlock()
	a.log.Error(fmt.Sprintf("auto-acknowledge alert %s (tenant %s) failed after %d attempts: %v — it was delivered; acknowledge it in Sophos Central", j.id, t.Label(), a.attempts, err), "source", "Alerts")
}

// alreadyAcknowledged: the alert is gone (404) or Sophos says it was
// acknowledged already (400): done, not a failure.
func alreadyAcknowledged(err error) bool {
	var ae *sophos.APIError
	if !errors.As(err, &ae) {
		return false
	}
	if ae.Status == http.StatusNotFound {
		return true
	}
	return ae.Status == http.StatusBadRequest && strings.Contains(strings.ToLower(ae.Message+" "+ae.Code), "already acknowledged")
}

func describe(r *sophos.AlertAction) string {
	if r == nil {
		return "{}"
	}
	return fmt.Sprintf("{'id': '%s', 'action': '%s', 'status': '%s'}", r.ID, r.Action, r.Status)
}

// Wait blocks until the queue is empty or ctx ends (used by -once).
func (a *Acker) Wait(ctx context.Context) {
	for {
		a.mu.Lock()
		n := len(a.queue)
		a.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Counts returns the alerts acknowledged and the ones that failed.
func (a *Acker) Counts() (acked, failed int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.acked, a.failed
}

// Close stops the worker; queued acknowledgements not yet sent are logged.
func (a *Acker) Close() error {
	close(a.stop)
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.queue) > 0 {
		a.log.Error(fmt.Sprintf("auto-acknowledge: stopped with %d alert(s) not yet acknowledged", len(a.queue)))
	}
	return nil
}
