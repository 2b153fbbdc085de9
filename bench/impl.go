package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/pushbench/pushbench/contract"
	"github.com/pushbench/pushbench/servers"
)

// RootEnv names the repository's directory for commands that live in it
// (the Node.js implementations) when pushbench runs from elsewhere.
const RootEnv = "PUSHBENCH_ROOT"

// WithImpl returns spec serving transport t by the implementation called
// impl (empty: the default): `serve --impl` for one of pushbench's own, or
// the registered command of one in another language, found in the
// repository.
func WithImpl(spec ServerSpec, t contract.Transport, impl string) (ServerSpec, error) {
	if t == contract.TCP && impl == "" {
		return spec, nil // the floor is pushbench's own, and has no other
	}
	i, err := servers.LookupImpl(t, impl)
	if err != nil {
		return spec, err
	}
	if len(i.Command) == 0 {
		if impl != "" {
			spec.Impl = map[contract.Transport]string{t.Base(): impl}
		}
		return spec, nil
	}
	cmd, err := resolve(i.Command)
	if err != nil {
		return spec, fmt.Errorf("%s/%s: %w", t.Base(), i.Name, err)
	}
	spec.Command, spec.External, spec.Impl = cmd, true, nil
	return spec, nil
}

// resolve finds the files a registered command names relative to the
// repository: in RootEnv's directory, or in the working directory or one of
// its parents, so that tests running in a package's directory find them.
func resolve(cmd []string) ([]string, error) {
	out := slices.Clone(cmd)
	for i, a := range cmd[1:] {
		if filepath.IsAbs(a) || filepath.Ext(a) == "" {
			continue
		}
		p, err := findUp(a)
		if err != nil {
			return nil, err
		}
		out[i+1] = p
	}
	return out, nil
}

func findUp(rel string) (string, error) {
	if root := os.Getenv(RootEnv); root != "" {
		p := filepath.Join(root, rel)
		if _, err := os.Stat(p); err != nil {
			return "", err
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, rel)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%s not found here or above: run from the repository, or set %s", rel, RootEnv)
		}
		dir = parent
	}
}
