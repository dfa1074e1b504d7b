package registry

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// challenge is one WWW-Authenticate challenge: a scheme ("bearer",
// "basic"; lower case) and its parameters (names in lower case).
type challenge struct {
	scheme string
	params map[string]string
}

// parseChallenges parses WWW-Authenticate header values (RFC 7235): each may
// hold several challenges, parameters are token or quoted-string values, and
// commas separate both parameters and challenges.
func parseChallenges(values []string) []challenge {
	var out []challenge
	for _, v := range values {
		p := &authParser{s: v}
		for {
			p.skip(" \t,")
			scheme := p.token()
			if scheme == "" {
				if p.i < len(p.s) {
					p.i++ // a stray character: step over it
					continue
				}
				break
			}
			ch := challenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
			for {
				p.skip(" \t")
				save := p.i
				name := p.token()
				p.skip(" \t")
				if name == "" || !p.consume('=') {
					// Not a parameter: the next challenge's scheme (or a
					// token68, which registries do not use).
					p.i = save
					break
				}
				p.skip(" \t")
				var val string
				if p.peek() == '"' {
					val = p.quoted()
				} else {
					val = p.token()
				}
				ch.params[strings.ToLower(name)] = val
				p.skip(" \t")
				if !p.consume(',') {
					break
				}
			}
			out = append(out, ch)
		}
	}
	return out
}

type authParser struct {
	s string
	i int
}

func (p *authParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *authParser) consume(b byte) bool {
	if p.peek() == b && p.i < len(p.s) {
		p.i++
		return true
	}
	return false
}

func (p *authParser) skip(set string) {
	for p.i < len(p.s) && strings.IndexByte(set, p.s[p.i]) >= 0 {
		p.i++
	}
}

// token reads an RFC 7230 token: up to a space, comma, '=' or quote.
func (p *authParser) token() string {
	start := p.i
	for p.i < len(p.s) && !strings.ContainsRune(" \t,=\"", rune(p.s[p.i])) {
		p.i++
	}
	return p.s[start:p.i]
}

// quoted reads a quoted-string, undoing backslash escapes.
func (p *authParser) quoted() string {
	p.i++ // opening quote
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '\\' && p.i < len(p.s):
			b.WriteByte(p.s[p.i])
			p.i++
		case c == '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// pickChallenge chooses the challenge to answer: Bearer over Basic.
func pickChallenge(chs []challenge) (challenge, bool) {
	for _, want := range []string{"bearer", "basic"} {
		for _, ch := range chs {
			if ch.scheme == want {
				return ch, true
			}
		}
	}
	return challenge{}, false
}

// token is a bearer token and when to stop using it.
type token struct {
	value   string
	expires time.Time
}

// knownAuthorization is the Authorization header to send up front to host,
// from the challenge it sent last: "" while it has sent none.
func (c *Client) knownAuthorization(ctx context.Context, host, repo string, scopes []string) (string, error) {
	c.mu.Lock()
	ch, ok := c.challenges[host]
	c.mu.Unlock()
	if !ok {
		return "", nil
	}
	// Not the challenge's scope: it was for whatever request drew it.
	ch.params = maps(ch.params, "scope", "")
	return c.authorize(ctx, host, repo, ch, scopes, false)
}

// maps returns a copy of m with key set to v (deleted when v is empty).
func maps(m map[string]string, key, v string) map[string]string {
	out := make(map[string]string, len(m))
	for k, x := range m {
		out[k] = x
	}
	if v == "" {
		delete(out, key)
	} else {
		out[key] = v
	}
	return out
}

// authorize answers challenge ch of host for scopes: the Authorization
// header to send, or "" when the client has nothing to send. refresh
// skips the token cache (the last token was refused).
func (c *Client) authorize(ctx context.Context, host, repo string, ch challenge, scopes []string, refresh bool) (string, error) {
	creds, err := c.credentials(ctx, host)
	if err != nil {
		return "", err
	}
	switch ch.scheme {
	case "basic":
		if creds.Username == "" && creds.Password == "" {
			return "", nil
		}
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(creds.Username+":"+creds.Password)), nil
	case "bearer":
	default:
		return "", nil
	}
	all := slices.Clone(scopes)
	for s := range strings.FieldsSeq(ch.params["scope"]) {
		if !covered(s, scopes) {
			all = append(all, s)
		}
	}
	slices.Sort(all)
	all = slices.Compact(all)
	realm := ch.params["realm"]
	key := host + " " + realm + " " + ch.params["service"] + " " + strings.Join(all, " ")

	c.tokenMu.Lock()
	defer c.tokenMu.Unlock()
	if !refresh {
		c.mu.Lock()
		t, ok := c.tokens[key]
		c.mu.Unlock()
		if ok && time.Now().Before(t.expires) {
			return "Bearer " + t.value, nil
		}
	}
	t, err := c.fetchToken(ctx, host, repo, realm, ch.params["service"], all, creds)
	if err != nil {
		return "", err
	}
	c.mu.Lock()
	c.tokens[key] = t
	c.mu.Unlock()
	return "Bearer " + t.value, nil
}

// covered reports whether scopes grant all that scope s asks
// ("repository:a:pull" is in "repository:a:pull,push"), so that a
// challenge's narrower scope does not make another token.
func covered(s string, scopes []string) bool {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return false
	}
	for _, have := range scopes {
		j := strings.LastIndexByte(have, ':')
		if j < 0 || have[:j] != s[:i] {
			continue
		}
		acts := strings.Split(have[j+1:], ",")
		all := true
		for a := range strings.SplitSeq(s[i+1:], ",") {
			if !slices.Contains(acts, a) && !slices.Contains(acts, "*") {
				all = false
			}
		}
		if all {
			return true
		}
	}
	return false
}

// fetchToken gets a bearer token from realm (the docker token protocol, or
// OAuth2 with a refresh token when the credentials are an identity token).
func (c *Client) fetchToken(ctx context.Context, host, repo, realm, service string, scopes []string, creds Credentials) (token, error) {
	u, err := url.Parse(realm)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return token{}, fmt.Errorf("authenticate to %s: bad token realm %q", host, realm)
	}
	var req *http.Request
	if creds.IdentityToken != "" {
		form := url.Values{}
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", creds.IdentityToken)
		form.Set("client_id", "berth")
		if service != "" {
			form.Set("service", service)
		}
		form.Set("scope", strings.Join(scopes, " "))
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
		if err != nil {
			return token{}, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		q := u.Query()
		if service != "" {
			q.Set("service", service)
		}
		for _, s := range scopes {
			q.Add("scope", s)
		}
		if creds.Username != "" {
			q.Set("account", creds.Username)
		}
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return token{}, err
		}
		if creds.Username != "" || creds.Password != "" {
			req.SetBasicAuth(creds.Username, creds.Password)
		}
	}
	req.Header.Set("User-Agent", c.userAgent)
	hc, err := c.httpClient(u.Host)
	if err != nil {
		return token{}, err
	}
	start := time.Now()
	resp, err := hc.Do(req)
	if err != nil {
		return token{}, fmt.Errorf("authenticate to %s: %w", host, err)
	}
	defer resp.Body.Close()
	c.logf("registry: token %s %s %v: %s", req.Method, realm, scopes, resp.Status)
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		e := readError(resp)
		if creds.empty() {
			return token{}, scopeDenied(host, repo, scopes, e)
		}
		return token{}, fmt.Errorf("authenticate to %s: %s refused the credentials (incorrect username or password?): %w", host, realm, e)
	case resp.StatusCode != http.StatusOK:
		return token{}, fmt.Errorf("authenticate to %s: token request to %s: %w", host, realm, readError(resp))
	}
	var body struct {
		Token       string    `json:"token"`
		AccessToken string    `json:"access_token"`
		ExpiresIn   int       `json:"expires_in"`
		IssuedAt    time.Time `json:"issued_at"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&body); err != nil {
		return token{}, fmt.Errorf("authenticate to %s: token response from %s: %w", host, realm, err)
	}
	t := token{value: body.Token}
	if t.value == "" {
		t.value = body.AccessToken
	}
	if t.value == "" {
		return token{}, fmt.Errorf("authenticate to %s: %s sent no token", host, realm)
	}
	// The protocol's default lifetime is 60 s. Count from when we asked,
	// not from issued_at: our clock and the server's may differ.
	life := time.Duration(body.ExpiresIn) * time.Second
	if life <= 0 {
		life = 60 * time.Second
	}
	if life > 20*time.Second {
		life -= 10 * time.Second // margin for the requests it is about to authorize
	}
	t.expires = start.Add(life)
	return t, nil
}
