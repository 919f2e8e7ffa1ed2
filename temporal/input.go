package temporal

import (
	"errors"
	"net/url"
	"strings"
)

// CheckDest refuses a destination URL a workflow must not carry: Temporal stores workflow inputs in its
// history and shows them in its UI, so a PostgreSQL URL with a password (in the user info or a password
// query parameter) is refused. The worker's environment gives the password instead: PGPASSWORD,
// PGPASSFILE/~/.pgpass or a PGSERVICEFILE, which the PostgreSQL driver reads. Other URLs (sqlite:PATH,
// parquet:DIR) hold no secret; the worker's own parsing judges them otherwise.
func CheckDest(dest string) error {
	dest = strings.TrimSpace(dest)
	if dest == "" {
		return errors.New("no destination: give a URL such as sqlite:coupa.db or postgres://user@host/db")
	}
	low := strings.ToLower(dest)
	if !strings.HasPrefix(low, "postgres://") && !strings.HasPrefix(low, "postgresql://") {
		return nil
	}
	const advice = "; a workflow's input is stored in Temporal's history, so give the worker the password " +
		"through PGPASSWORD or ~/.pgpass and use postgres://user@host/db"
	u, err := url.Parse(dest)
	if err != nil {
		// The parse error would quote the URL, password and all.
		return errors.New("the destination is not a valid postgres:// URL" + advice)
	}
	if _, has := u.User.Password(); has {
		return errors.New("the destination URL carries a password" + advice)
	}
	for k := range u.Query() {
		if strings.Contains(strings.ToLower(k), "password") {
			return errors.New("the destination URL carries a " + k + " parameter" + advice)
		}
	}
	return nil
}
