package temporal

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Connection is how to reach a Temporal service: a local dev server, a self-hosted cluster or Temporal
// Cloud (mTLS with a client certificate, or an API key).
type Connection struct {
	Address   string // host:port of the frontend, e.g. localhost:7233 or NS.ACCT.tmprl.cloud:7233
	Namespace string
	// TLSCertPath and TLSKeyPath are a client certificate for mTLS; either both or neither.
	TLSCertPath, TLSKeyPath string
	// APIKey authenticates to Temporal Cloud; it implies TLS.
	APIKey string
	Logger *slog.Logger
}

// Dial connects to Temporal.
func Dial(ctx context.Context, c Connection) (client.Client, error) {
	opts := client.Options{HostPort: c.Address, Namespace: c.Namespace}
	if c.Logger != nil {
		opts.Logger = sdklog.NewStructuredLogger(c.Logger)
	}
	if (c.TLSCertPath == "") != (c.TLSKeyPath == "") {
		return nil, fmt.Errorf("temporal: give both a TLS client certificate and its key, or neither")
	}
	if c.TLSCertPath != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertPath, c.TLSKeyPath)
		if err != nil {
			return nil, fmt.Errorf("temporal: TLS client certificate: %w", err)
		}
		opts.ConnectionOptions.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if c.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(c.APIKey)
		if opts.ConnectionOptions.TLS == nil {
			opts.ConnectionOptions.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
		}
	}
	cl, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("temporal: connecting to %s (namespace %s): %w", c.Address, c.Namespace, err)
	}
	return cl, nil
}

// Register adds the workflows and acts' activity to a worker (or a test environment or a replayer).
func Register(r worker.Registry, acts *Activities) {
	RegisterWorkflows(r)
	r.RegisterActivityWithOptions(acts.SyncTable, activity.RegisterOptions{Name: SyncTableActivityName})
}

// RegisterWorkflows adds the workflows alone, which is all a replayer needs.
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(SyncWorkflow, workflow.RegisterOptions{Name: SyncWorkflowName})
	r.RegisterWorkflowWithOptions(TableWorkflow, workflow.RegisterOptions{Name: TableWorkflowName})
}

// NewWorker is a worker of taskQueue hosting the workflows and acts' activity.
func NewWorker(c client.Client, taskQueue string, acts *Activities, opts worker.Options) worker.Worker {
	w := worker.New(c, taskQueue, opts)
	Register(w, acts)
	return w
}
