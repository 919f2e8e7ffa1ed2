package main

import (
	"context"
	"slices"
	"strings"

	"github.com/coupa-connector/coupa-connector/cmd/coupa/internal/config"
	"github.com/coupa-connector/coupa-connector/coupa"
)

// resolveConnection merges flags, environment and config file without checking completeness, so that
// `config show` can display a half-configured connection.
func (a *app) resolveConnection() (*config.Connection, error) {
	opts := a.global.conn
	opts.Logger = a.logger
	return config.Resolve(opts)
}

// connection is the effective, validated connection every command that talks to Coupa uses.
func (a *app) connection() (*config.Connection, error) {
	c, err := a.resolveConnection()
	if err != nil {
		return nil, err
	}
	if err := c.Validate(a.logger); err != nil {
		return nil, err
	}
	return c, nil
}

// newClient builds a Coupa client for the resolved connection. scopes are what the command needs (the
// catalog scopes of its tables); --scopes, COUPA_SCOPES or a file's scopes replace them, for admins who
// granted differently named scopes.
func (a *app) newClient(ctx context.Context, scopes []string) (*coupa.Client, error) {
	c, err := a.connection()
	if err != nil {
		return nil, err
	}
	return newClientFor(c, scopes, a)
}

func newClientFor(c *config.Connection, scopes []string, a *app) (*coupa.Client, error) {
	if len(c.Scopes) > 0 {
		scopes = c.Scopes
	}
	scopes = slices.Compact(slices.Sorted(slices.Values(scopes)))
	cfg := c.Config
	cfg.Scopes = scopes
	cfg.Logger = a.logger
	client, err := coupa.New(cfg)
	if err != nil {
		return nil, libError(err)
	}
	return client, nil
}

// libError drops the library's "coupa: " prefixes, since run prints its own, and keeps the error chain
// so that callers can still errors.As the cause.
func libError(err error) error {
	return &trimmedError{msg: strings.ReplaceAll(err.Error(), "coupa: ", ""), err: err}
}

type trimmedError struct {
	msg string
	err error
}

func (e *trimmedError) Error() string { return e.msg }
func (e *trimmedError) Unwrap() error { return e.err }
