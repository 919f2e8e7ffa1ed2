package main

import (
	"context"
	"errors"
	"os"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/extract"
	"github.com/coupa-connector/coupa-connector/temporal"
)

func init() { registerCommand(newWorkerCmd) }

// temporalFlags are how `coupa worker` and `coupa schedule` reach Temporal, named as Temporal's own CLI
// names them. The API key is --temporal-api-key: --api-key is already the legacy Coupa key.
type temporalFlags struct {
	address, namespace, taskQueue string
	tlsCert, tlsKey, apiKey       string
}

func (f *temporalFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.address, "temporal-address", envOr("TEMPORAL_ADDRESS", "localhost:7233"), "Temporal frontend host:port (env TEMPORAL_ADDRESS)")
	fl.StringVar(&f.namespace, "namespace", envOr("TEMPORAL_NAMESPACE", "default"), "Temporal namespace (env TEMPORAL_NAMESPACE)")
	fl.StringVar(&f.taskQueue, "task-queue", temporal.DefaultTaskQueue, "Temporal task queue the workers poll")
	fl.StringVar(&f.tlsCert, "tls-cert-path", os.Getenv("TEMPORAL_TLS_CERT"), "TLS client certificate for mTLS, e.g. Temporal Cloud (env TEMPORAL_TLS_CERT)")
	fl.StringVar(&f.tlsKey, "tls-key-path", os.Getenv("TEMPORAL_TLS_KEY"), "TLS client key (env TEMPORAL_TLS_KEY)")
	fl.StringVar(&f.apiKey, "temporal-api-key", "", "Temporal Cloud API key (env TEMPORAL_API_KEY; prefer the env)")
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// dial connects to Temporal with f.
func (a *app) dial(ctx context.Context, f temporalFlags) (client.Client, error) {
	key := f.apiKey
	if key == "" {
		key = os.Getenv("TEMPORAL_API_KEY")
	}
	return temporal.Dial(ctx, temporal.Connection{Address: f.address, Namespace: f.namespace,
		TLSCertPath: f.tlsCert, TLSKeyPath: f.tlsKey, APIKey: key, Logger: a.logger})
}

func newWorkerCmd(a *app) *cobra.Command {
	var tf temporalFlags
	var activities, concurrency int
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run syncs for Temporal: a worker hosting the coupa workflows and activities",
		Long: `Poll a Temporal task queue and run the syncs that workflows and schedules ask for (see
` + "`coupa schedule`" + `). Start as many workers as you like, on as many machines: Temporal gives each
table to one of them, and when a worker dies another resumes its tables from the last committed page.

A workflow names a connection (--connection NAME of this worker's config file, or "" for its default
connection) and a destination URL; the secrets stay in this worker's config and environment, never in
Temporal. A PostgreSQL destination URL must not carry a password: give the worker PGPASSWORD or ~/.pgpass.`,
		Example: `  temporal server start-dev &                 # a local Temporal, UI on http://localhost:8233
  coupa --config coupa.yaml worker
  coupa worker --temporal-address NS.ACCT.tmprl.cloud:7233 --namespace NS.ACCT --tls-cert-path c.pem --tls-key-path c.key`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runWorker(cmd.Context(), tf, activities, concurrency)
		},
	}
	tf.register(cmd.Flags())
	cmd.Flags().IntVar(&activities, "max-tables", 8, "tables this worker syncs at once")
	cmd.Flags().IntVar(&concurrency, "concurrency", extract.DefaultConcurrency, "id ranges of one table fetched at once (all share the rate limit)")
	return cmd
}

func (a *app) runWorker(ctx context.Context, tf temporalFlags, activities, concurrency int) error {
	if activities < 1 || concurrency < 1 || concurrency > 64 {
		return usageError("--max-tables must be at least 1 and --concurrency 1 to 64")
	}
	c, err := a.dial(ctx, tf)
	if err != nil {
		return err
	}
	defer c.Close()
	res := &workerResources{a: a, clients: map[string]*coupa.Client{}, dests: map[string]dest.Destination{}}
	defer res.close()
	w := temporal.NewWorker(c, tf.taskQueue, &temporal.Activities{Resources: res, Logger: a.logger, Concurrency: concurrency},
		worker.Options{MaxConcurrentActivityExecutionSize: activities})
	if err := w.Start(); err != nil {
		return err
	}
	a.logger.Info("worker started", "temporal", tf.address, "namespace", tf.namespace, "task_queue", tf.taskQueue)
	<-ctx.Done()
	w.Stop()
	return nil
}

// workerResources resolves a workflow's names the way the CLI resolves its flags. It keeps one Coupa
// client per connection and scope set, so that the tables of a run share a rate limiter, and one opened
// destination per URL, since a destination serialises its own writers (one SQLite file, one Parquet lock).
type workerResources struct {
	a       *app
	mu      sync.Mutex
	clients map[string]*coupa.Client
	dests   map[string]dest.Destination
}

func (r *workerResources) Client(ctx context.Context, connection string, tables []*catalog.Table) (extract.Lister, error) {
	scopes := catalog.Scopes(tables)
	key := connection + "\x00" + strings.Join(scopes, " ")
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.clients[key]; ok {
		return c, nil
	}
	named := *r.a
	if connection != "" {
		named.global.conn.Connection = connection
	}
	c, err := named.newClient(ctx, scopes)
	if err != nil {
		return nil, err
	}
	r.clients[key] = c
	return c, nil
}

func (r *workerResources) Dest(ctx context.Context, url string) (dest.Destination, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if d, ok := r.dests[url]; ok {
		return d, nil
	}
	spec, err := resolveDest(url, pgSchemaFlag{})
	if err != nil {
		return nil, err
	}
	d, err := openDest(ctx, spec, "", false)
	if err != nil {
		return nil, err
	}
	r.dests[url] = d
	return d, nil
}

func (r *workerResources) Explain(err error) string { return libError(err).Error() }

func (r *workerResources) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, d := range r.dests {
		errs = append(errs, d.Close())
	}
	if err := errors.Join(errs...); err != nil {
		r.a.logger.Warn("closing a destination", "err", err)
	}
}
