package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/callbridge/callbridge/match"
	"github.com/callbridge/callbridge/phone"
)

// fileConfig is the gateway's configuration file (-config, CRM_CONFIG), in
// YAML: what the flags and environment variables set, and the employees
// and rules they cannot. See examples/crm/callbridge.example.yaml.
type fileConfig struct {
	Listen        string `yaml:"listen"`
	PublicURL     string `yaml:"public_url"`
	Country       string `yaml:"country"`
	DB            secret `yaml:"db"`
	DBSync        string `yaml:"db_sync"`
	CallRetention string `yaml:"call_retention"`
	StatsDays     *int   `yaml:"stats_days"`
	EmployeeSync  string `yaml:"employee_sync"`
	MetricsAddr   string `yaml:"metrics_addr"`
	LogLevel      string `yaml:"log_level"`
	Clients       string `yaml:"clients"`
	CRM           string `yaml:"crm"`
	Notify        struct {
		URL    string `yaml:"url"`
		Secret secret `yaml:"secret"`
	} `yaml:"notify"`
	SMTP struct {
		Addr     string `yaml:"addr"`
		From     string `yaml:"from"`
		Username string `yaml:"username"`
		Password secret `yaml:"password"`
	} `yaml:"smtp"`
	Recordings struct {
		Cache      string `yaml:"cache"`
		CacheMB    *int   `yaml:"cache_mb"`
		LinkSecret secret `yaml:"link_secret"`
	} `yaml:"recordings"`
	TLS struct {
		Cert string `yaml:"cert"`
		Key  string `yaml:"key"`
	} `yaml:"tls"`
	Tokens struct {
		API     secret `yaml:"api"`
		Hooks   secret `yaml:"hooks"`
		MegaFon secret `yaml:"megafon"`
	} `yaml:"tokens"`
	Providers struct {
		Telphin struct {
			ClientID     string `yaml:"client_id"`
			ClientSecret secret `yaml:"client_secret"`
			BaseURL      string `yaml:"base_url"`
		} `yaml:"telphin"`
		MegaFon struct {
			Domain string `yaml:"domain"`
			APIKey secret `yaml:"api_key"`
		} `yaml:"megafon"`
		Phonet struct {
			Domain string `yaml:"domain"`
			APIKey secret `yaml:"api_key"`
		} `yaml:"phonet"`
		Finaz struct {
			Templates string `yaml:"templates"`
		} `yaml:"finaz"`
	} `yaml:"providers"`
	AmoCRM struct {
		Domain           string           `yaml:"domain"`
		Token            secret           `yaml:"token"`
		ClientID         string           `yaml:"client_id"`
		ClientSecret     secret           `yaml:"client_secret"`
		RedirectURL      string           `yaml:"redirect_url"`
		Extensions       map[string]int64 `yaml:"extensions"`
		UnsortedPipeline int64            `yaml:"unsorted_pipeline"`
		BaseURL          string           `yaml:"base_url"`
	} `yaml:"amocrm"`
	Employees []fileEmployee `yaml:"employees"`
	// Statuses are the employees' statuses, as the PBX names them.
	Statuses []Status `yaml:"statuses"`
	// Rules are match rules, with the keys of the JSON rules file
	// (match.ParseRules).
	Rules yaml.Node `yaml:"rules"`
}

type fileEmployee struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	Login      string   `yaml:"login"`
	Email      string   `yaml:"email"`
	Extensions []string `yaml:"extensions"`
	Admin      bool     `yaml:"admin"`
	// PasswordHash is the workspace password's PBKDF2 hash
	// (HashPassword, crm -hash-password).
	PasswordHash string `yaml:"password_hash"`
	// Lang is the workspace's language: ru or en.
	Lang string `yaml:"lang"`
}

// logins are the employees' password hashes and languages by id.
func (f fileConfig) logins() (passwords, langs map[string]string) {
	for _, e := range f.Employees {
		if e.PasswordHash != "" {
			if passwords == nil {
				passwords = map[string]string{}
			}
			passwords[e.ID] = e.PasswordHash
		}
		if e.Lang != "" {
			if langs == nil {
				langs = map[string]string{}
			}
			langs[e.ID] = e.Lang
		}
	}
	return passwords, langs
}

// secret is a secret setting: {env: NAME} (read from the environment),
// {file: PATH} (the file's content, trimmed) or, not for examples, the
// value itself.
type secret struct {
	Env  string `yaml:"env"`
	File string `yaml:"file"`
	// Inline is the value written in the file itself.
	Inline string `yaml:"-"`
	// value is the resolved secret.
	value string
}

// UnmarshalYAML reads a secret's mapping form or a plain value.
func (s *secret) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.Inline = n.Value
		return nil
	}
	type plain secret
	return n.Decode((*plain)(s))
}

// source names where the secret comes from, for -check-config.
func (s secret) source() string {
	switch {
	case s.Env != "":
		return "env " + s.Env
	case s.File != "":
		return "file " + s.File
	case s.Inline != "":
		return "inline"
	}
	return ""
}

// configProblem is one problem of a configuration file, at a line.
type configProblem struct {
	line, col int
	msg       string
}

// configProblems lists every problem of a file at once.
type configProblems struct {
	path string
	list []configProblem
}

func (p *configProblems) add(n *yaml.Node, format string, args ...any) {
	pr := configProblem{msg: fmt.Sprintf(format, args...)}
	if n != nil {
		pr.line, pr.col = n.Line, n.Column
	}
	p.list = append(p.list, pr)
}

func (p *configProblems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	slices.SortStableFunc(p.list, func(a, b configProblem) int { return a.line - b.line })
	var b strings.Builder
	fmt.Fprintf(&b, "config %s: %d problem(s):", p.path, len(p.list))
	for _, pr := range p.list {
		if pr.line > 0 {
			fmt.Fprintf(&b, "\n  %s:%d:%d: %s", p.path, pr.line, pr.col, pr.msg)
		} else {
			fmt.Fprintf(&b, "\n  %s: %s", p.path, pr.msg)
		}
	}
	return errors.New(b.String())
}

// yamlLine finds "line N" in a YAML error's text.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// loadConfigFile reads and checks the configuration file at path,
// resolving its secrets with getenv. Every problem is reported at once,
// each with its line.
func loadConfigFile(path string, getenv func(string) string, country string) (fileConfig, *match.RuleSet, []match.Employee, error) {
	probs := &configProblems{path: path}
	var f fileConfig
	b, err := os.ReadFile(path)
	if err != nil {
		return f, nil, nil, fmt.Errorf("config: %w", err)
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		probs.yamlError(err)
		return f, nil, nil, probs.err()
	}
	if root.Kind == 0 { // an empty file
		return f, nil, nil, nil
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	checkKeys(probs, doc, reflect.TypeFor[fileConfig](), "")
	if err := doc.Decode(&f); err != nil {
		probs.yamlError(err)
	}
	at := func(p string) *yaml.Node { return nodeAt(doc, p) }
	f.check(probs, at, getenv, country)
	rules, emps := f.rulesAndEmployees(probs, at, country)
	return f, rules, emps, probs.err()
}

// yamlError adds the problems of a YAML syntax or type error.
func (p *configProblems) yamlError(err error) {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	for _, m := range msgs {
		if g := yamlLine.FindStringSubmatch(m); g != nil {
			line, _ := strconv.Atoi(g[1])
			p.list = append(p.list, configProblem{line: line, col: 1, msg: g[2]})
			continue
		}
		p.list = append(p.list, configProblem{msg: strings.TrimPrefix(m, "yaml: ")})
	}
}

// checkKeys reports the keys of n that t (a struct, slice or secret) has
// no field for, with the known ones, everywhere below n.
func checkKeys(p *configProblems, n *yaml.Node, t reflect.Type, path string) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[yaml.Node]():
		return // rules: checked by match.ParseRules
	case t == reflect.TypeFor[secret]():
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if k := n.Content[i]; k.Value != "env" && k.Value != "file" {
					p.add(k, "%s: unknown key %q (a secret is {env: NAME}, {file: PATH} or a value)", path, k.Value)
				}
			}
		}
		return
	case t.Kind() == reflect.Slice && n.Kind == yaml.SequenceNode:
		for i, c := range n.Content {
			checkKeys(p, c, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
		return
	case t.Kind() != reflect.Struct || n.Kind != yaml.MappingNode:
		return
	}
	fields := map[string]reflect.Type{}
	var known []string
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if tag != "" && tag != "-" {
			fields[tag] = t.Field(i).Type
			known = append(known, tag)
		}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			p.add(k, "%s: unknown key %q; known: %s", strings.TrimPrefix(path+"."+k.Value, "."), k.Value, strings.Join(known, ", "))
			continue
		}
		checkKeys(p, v, ft, strings.TrimPrefix(path+"."+k.Value, "."))
	}
}

// nodeAt is the value node at a dotted path ("providers.megafon.domain",
// "employees.2.id"), or nil.
func nodeAt(n *yaml.Node, path string) *yaml.Node {
	for key := range strings.SplitSeq(path, ".") {
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == key {
					next = n.Content[i+1]
				}
			}
			if next == nil {
				return nil
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil
			}
			n = n.Content[i]
		default:
			return nil
		}
	}
	return n
}

// check validates the settings and resolves the secrets.
func (f *fileConfig) check(p *configProblems, at func(string) *yaml.Node, getenv func(string) string, country string) {
	for _, s := range []struct {
		key string
		s   *secret
	}{
		{"db", &f.DB}, {"tokens.api", &f.Tokens.API}, {"tokens.hooks", &f.Tokens.Hooks}, {"tokens.megafon", &f.Tokens.MegaFon},
		{"providers.telphin.client_secret", &f.Providers.Telphin.ClientSecret},
		{"providers.megafon.api_key", &f.Providers.MegaFon.APIKey}, {"providers.phonet.api_key", &f.Providers.Phonet.APIKey},
		{"amocrm.token", &f.AmoCRM.Token}, {"amocrm.client_secret", &f.AmoCRM.ClientSecret}, {"notify.secret", &f.Notify.Secret},
		{"smtp.password", &f.SMTP.Password},
		{"recordings.link_secret", &f.Recordings.LinkSecret},
	} {
		if strings.HasPrefix(s.key, "amocrm.") && f.CRM != CRMAmoCRM {
			// Not needed unless -crm amocrm, which checks the account.
			s.s.resolve(&configProblems{}, nil, s.key, getenv)
			continue
		}
		s.s.resolve(p, at(s.key), s.key, getenv)
	}
	if _, err := phone.Normalize("79161234567", f.Country); errors.Is(err, phone.ErrUnknownCountry) {
		p.add(at("country"), "country: %v", err)
	}
	if f.DBSync != "" && f.DBSync != "normal" && f.DBSync != "full" {
		p.add(at("db_sync"), "db_sync: %q is neither normal nor full", f.DBSync)
	}
	if _, err := parseRetention(f.CallRetention); err != nil {
		p.add(at("call_retention"), "call_retention: %v", err)
	}
	if n := f.Recordings.CacheMB; n != nil && (*n < 0 || *n > MaxRecordingCacheMB) {
		p.add(at("recordings.cache_mb"), "recordings.cache_mb: %d is not a number of MiB from 0 to %d", *n, MaxRecordingCacheMB)
	}
	if f.StatsDays != nil && (*f.StatsDays < 0 || *f.StatsDays > MaxStatsDays) {
		p.add(at("stats_days"), "stats_days: %d is not from 0 to %d", *f.StatsDays, MaxStatsDays)
	}
	if _, err := parseEmployeeSync(f.EmployeeSync); err != nil {
		p.add(at("employee_sync"), "employee_sync: %v", err)
	}
	if _, err := parseLogLevel(f.LogLevel); err != nil {
		p.add(at("log_level"), "log_level: %v", err)
	}
	if f.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(f.MetricsAddr); err != nil {
			p.add(at("metrics_addr"), "metrics_addr: %q is not host:port", f.MetricsAddr)
		}
	}
	switch f.CRM {
	case "", "builtin":
	case "amocrm":
	default:
		p.add(at("crm"), "crm: %q is neither builtin nor amocrm", f.CRM)
	}
	if f.PublicURL != "" {
		if err := (Config{PublicURL: f.PublicURL}).validate(); err != nil {
			p.add(at("public_url"), "public_url: %v", err)
		}
	}
	for _, b := range []struct{ key, v string }{{"providers.telphin.base_url", f.Providers.Telphin.BaseURL}, {"amocrm.base_url", f.AmoCRM.BaseURL}} {
		if err := checkBaseURL(b.v); err != nil {
			p.add(at(b.key), "%s: %v", b.key, err)
		}
	}
	f.checkSMTP(p, at)
	// A provider's pair may come half from the file, half from the
	// environment: ParseConfig checks the pairs once both are merged.
	for _, file := range []struct{ key, path string }{{"clients", f.Clients}, {"providers.finaz.templates", f.Providers.Finaz.Templates},
		{"tls.cert", f.TLS.Cert}, {"tls.key", f.TLS.Key}} {
		if file.path == "" {
			continue
		}
		if _, err := os.Stat(file.path); err != nil {
			p.add(at(file.key), "%s: %v", file.key, err)
		}
	}
}

// resolve reads the secret from where it says.
func (s *secret) resolve(p *configProblems, n *yaml.Node, key string, getenv func(string) string) {
	switch {
	case s.Env != "" && s.File != "":
		p.add(n, "%s: give env or file, not both", key)
	case s.Env != "":
		if s.value = strings.TrimSpace(getenv(s.Env)); s.value == "" {
			p.add(n, "%s: the environment variable %s is not set", key, s.Env)
		}
	case s.File != "":
		b, err := os.ReadFile(s.File)
		if err != nil {
			p.add(n, "%s: %v", key, err)
			return
		}
		if s.value = strings.TrimSpace(string(b)); s.value == "" {
			p.add(n, "%s: the file %s is empty", key, s.File)
		}
	default:
		s.value = s.Inline
	}
}

// rulesAndEmployees reads the employees and the rules, and checks that
// the rules name only known employees.
func (f *fileConfig) rulesAndEmployees(p *configProblems, at func(string) *yaml.Node, country string) (*match.RuleSet, []match.Employee) {
	var emps []match.Employee
	ids, exts := map[string]bool{}, map[string]string{}
	for i, e := range f.Employees {
		key := fmt.Sprintf("employees.%d", i)
		switch {
		case strings.TrimSpace(e.ID) == "":
			p.add(at(key), "%s: an employee needs an id", key)
		case ids[e.ID]:
			p.add(at(key+".id"), "%s.id: %q is the id of an employee above", key, e.ID)
		}
		ids[e.ID] = true
		for j, x := range e.Extensions {
			xk := fmt.Sprintf("%s.extensions.%d", key, j)
			if x == "" || strings.Trim(x, "0123456789*#") != "" || len(x) > 16 {
				p.add(at(xk), "%s: %q is not an extension (digits, * and #, at most 16)", xk, x)
			} else if other, dup := exts[x]; dup {
				p.add(at(xk), "%s: extension %s is also %s's", xk, x, other)
			}
			exts[x] = e.ID
		}
		if e.PasswordHash != "" {
			if _, err := parsePasswordHash(e.PasswordHash); err != nil {
				p.add(at(key+".password_hash"), "%s.password_hash: %v", key, err)
			}
		}
		if e.Lang != "" && !slices.Contains(languages, e.Lang) {
			p.add(at(key+".lang"), "%s.lang: %q is none of %s", key, e.Lang, strings.Join(languages, ", "))
		}
		emps = append(emps, match.Employee{ID: e.ID, Name: e.Name, Login: e.Login, Email: e.Email, Extensions: e.Extensions, Admin: e.Admin})
	}
	names := map[string]bool{}
	online := false
	for i, st := range f.Statuses {
		key := fmt.Sprintf("statuses.%d.name", i)
		switch {
		case strings.TrimSpace(st.Name) == "" || len(st.Name) > 64:
			p.add(at(fmt.Sprintf("statuses.%d", i)), "statuses.%d: a status needs a name of at most 64 bytes", i)
		case names[st.Name]:
			p.add(at(key), "%s: %q is a status above", key, st.Name)
		}
		names[st.Name] = true
		online = online || st.Online
	}
	if len(f.Statuses) > 0 && !online {
		p.add(at("statuses"), "statuses: none is online, so the active distribution would never find anyone")
	}
	if f.Rules.Kind == 0 {
		return nil, emps
	}
	var v any
	if err := f.Rules.Decode(&v); err != nil {
		p.add(&f.Rules, "rules: %v", err)
		return nil, emps
	}
	b, err := json.Marshal(v)
	if err != nil {
		p.add(&f.Rules, "rules: %v", err)
		return nil, emps
	}
	if c := strings.ToUpper(f.Country); c != "" {
		country = c
	}
	rs, err := match.ParseRules(b, country)
	if err != nil {
		msg := strings.TrimPrefix(strings.TrimPrefix(err.Error(), "match: "), "rules: ")
		at := &f.Rules
		if g := unknownField.FindStringSubmatch(msg); g != nil {
			at = cmpOr(findKey(&f.Rules, g[1]), at)
		}
		p.add(at, "rules: %s", msg)
		return nil, emps
	}
	if len(emps) > 0 {
		for _, name := range ruleEmployees(rs) {
			if !ids[name.id] {
				p.add(cmpOr(findScalar(&f.Rules, name.id), &f.Rules), "rules: %s names employee %q, who is not in employees", name.where, name.id)
			}
		}
	}
	return &rs, emps
}

// unknownField finds the field named in a JSON "unknown field" error.
var unknownField = regexp.MustCompile(`unknown field "([^"]+)"`)

// findKey is the first mapping key named key below n, or nil.
func findKey(n *yaml.Node, key string) *yaml.Node {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				return n.Content[i]
			}
		}
	}
	for _, c := range n.Content {
		if k := findKey(c, key); k != nil {
			return k
		}
	}
	return nil
}

// findScalar is the first scalar value v below n, or nil.
func findScalar(n *yaml.Node, v string) *yaml.Node {
	if n.Kind == yaml.ScalarNode && n.Value == v {
		return n
	}
	for i, c := range n.Content {
		if n.Kind == yaml.MappingNode && i%2 == 0 {
			continue // a key
		}
		if x := findScalar(c, v); x != nil {
			return x
		}
	}
	return nil
}

type employeeRef struct{ where, id string }

// ruleEmployees lists the employees the rules name, where.
func ruleEmployees(rs match.RuleSet) []employeeRef {
	var out []employeeRef
	add := func(where string, r match.Rule) {
		if r.Missed.Manager != "" {
			out = append(out, employeeRef{where + " missed.manager", r.Missed.Manager})
		}
		for _, id := range r.Missed.Employees {
			out = append(out, employeeRef{where + " missed.employees", id})
		}
		for _, id := range r.Notify.Unknown {
			out = append(out, employeeRef{where + " notify.unknown", id})
		}
		for _, id := range r.Notify.Extra {
			out = append(out, employeeRef{where + " notify.extra", id})
		}
	}
	each := func(where string, rs match.Rules) {
		add(where, rs.Rule)
		for _, l := range rs.Lines {
			add(where+" line "+strconv.Quote(l.Name), l.Rule)
		}
	}
	each("default", rs.Default)
	for _, acc := range slices.Sorted(maps.Keys(rs.Accounts)) {
		each("account "+strconv.Quote(acc), rs.Accounts[acc])
	}
	return out
}

// effective is the configuration as -check-config prints it: every
// setting, secrets redacted, with where each secret comes from.
func (c Config) effective() ([]byte, error) {
	m := c.redacted()
	m["ConfigFile"] = c.ConfigFile
	m["FullSync"] = c.FullSync
	m["CallRetention"] = c.CallRetention.String()
	m["StatsDays"] = c.StatsDays
	m["EmployeeSync"] = c.employeeSync().String()
	if c.EmployeeSync < 0 {
		m["EmployeeSync"] = "off"
	}
	m["Employees"] = c.Employees
	if c.Rules != nil {
		m["Rules"] = c.Rules
	}
	if len(c.SecretsFrom) > 0 {
		m["SecretsFrom"] = c.SecretsFrom
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// secretSources says where each secret set in the file comes from.
func (f fileConfig) secretSources() map[string]string {
	out := map[string]string{}
	for key, s := range map[string]secret{
		"db": f.DB, "tokens.api": f.Tokens.API, "tokens.hooks": f.Tokens.Hooks, "tokens.megafon": f.Tokens.MegaFon,
		"providers.telphin.client_secret": f.Providers.Telphin.ClientSecret,
		"providers.megafon.api_key":       f.Providers.MegaFon.APIKey, "providers.phonet.api_key": f.Providers.Phonet.APIKey,
		"amocrm.token": f.AmoCRM.Token, "amocrm.client_secret": f.AmoCRM.ClientSecret, "notify.secret": f.Notify.Secret,
		"smtp.password":          f.SMTP.Password,
		"recordings.link_secret": f.Recordings.LinkSecret,
	} {
		if src := s.source(); src != "" {
			out[key] = src
		}
	}
	return out
}

// checkSMTP checks the file's smtp, at its lines; the pairs (a sender
// without a server…) are checked once merged with the environment.
func (f *fileConfig) checkSMTP(p *configProblems, at func(string) *yaml.Node) {
	s := f.SMTP
	if s.Password.Inline != "" {
		p.add(at("smtp.password"), "smtp.password: write {env: CRM_SMTP_PASSWORD} or {file: PATH}, not the password itself")
	}
	if s.Addr != "" {
		if err := checkSMTPAddr(s.Addr); err != nil {
			p.add(at("smtp.addr"), "smtp.addr: %v", err)
		}
	}
	if s.From != "" {
		if _, err := parseFrom(s.From); err != nil {
			p.add(at("smtp.from"), "smtp.from: %v", err)
		}
	}
}

// configArg is the value of -config (or --config) in args, "" if none.
func configArg(args []string) string {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "config" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}
