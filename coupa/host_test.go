package coupa

import (
	"strings"
	"testing"
)

func TestNormalizeHost(t *testing.T) {
	ok := map[string]string{
		"acme.coupahost.com":                   "https://acme.coupahost.com",
		"  ACME.CoupaHost.com  ":               "https://acme.coupahost.com",
		"acme.coupacloud.com":                  "https://acme.coupacloud.com",
		"https://acme.coupahost.com":           "https://acme.coupahost.com",
		"https://acme.coupahost.com/":          "https://acme.coupahost.com",
		"https://acme.coupahost.com/api/users": "https://acme.coupahost.com",
		"acme.coupahost.com/oauth2/token?x=1":  "https://acme.coupahost.com",
		"HTTPS://spend.example.co.uk":          "https://spend.example.co.uk",
		"acme.coupahost.com.":                  "https://acme.coupahost.com",
		"https://acme.coupahost.com:8443":      "https://acme.coupahost.com:8443",
		"http://localhost:4010":                "http://localhost:4010",
		"http://127.0.0.1:4010/":               "http://127.0.0.1:4010",
		"http://127.8.9.10":                    "http://127.8.9.10",
		"http://[::1]:4010":                    "http://[::1]:4010",
		"localhost:4010":                       "https://localhost:4010",
		"https://[::1]":                        "https://[::1]",
	}
	for in, want := range ok {
		got, err := NormalizeHost(in)
		if err != nil || got != want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	bad := map[string]string{
		"":                                 "no host given",
		"http://acme.coupahost.com":        "http://acme.coupahost.com: Coupa requires https; use https://acme.coupahost.com",
		"http://10.0.0.5":                  "Coupa requires https",
		"http://acme.coupahost.com:8080/x": "use https://acme.coupahost.com:8080",
		"ftp://acme.coupahost.com":         "scheme",
		"acme":                             "did you mean acme.coupahost.com",
		"acme_corp.coupahost.com":          "not a valid host name",
		"acme..coupahost.com":              "not a valid host name",
		"https://":                         "no host name",
		"acme coupahost.com":               "contains spaces",
		"https://u:p@acme.coupahost.com":   "must not contain a user name or password",
		"acme.coupahost.com:99999":         "invalid port",
		"acme.coupahost.com:":              "empty port",
		"https://%zz":                      "not a valid URL",
	}
	for in, want := range bad {
		_, err := NormalizeHost(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("NormalizeHost(%q) error = %v; want it to contain %q", in, err, want)
		}
	}
	if _, err := New(Config{Host: "http://acme.coupahost.com", APIKey: "k"}); err == nil {
		t.Error("New accepted plain http to a remote host")
	}
}

func TestNewValidatesCredentials(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Host: "acme.coupahost.com"}, "COUPA_CLIENT_ID and COUPA_CLIENT_SECRET"},
		{Config{Host: "acme.coupahost.com", ClientID: "id"}, "COUPA_CLIENT_SECRET"},
		{Config{Host: "acme.coupahost.com", ClientSecret: "x"}, "COUPA_CLIENT_ID"},
	} {
		_, err := New(tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want error mentioning %s", tc.cfg, err, tc.want)
		}
	}
	c, err := New(Config{Host: "acme.coupahost.com/", ClientID: "id", ClientSecret: "x"})
	if err != nil || c.BaseURL() != "https://acme.coupahost.com" {
		t.Errorf("BaseURL = %v, err %v", c, err)
	}
}
