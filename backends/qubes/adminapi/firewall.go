package adminapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// FirewallGet returns qube's firewall rules as admin.vm.firewall.Get gives
// them: one API line each, in order.
func (c *Client) FirewallGet(ctx context.Context, qube string) ([]string, error) {
	b, err := c.Call(ctx, "admin.vm.firewall.Get", "", qube, nil)
	if err != nil {
		return nil, err
	}
	return lines(string(b)), nil
}

// FirewallSet replaces qube's firewall rules with lines, in one call that
// dom0 applies as a whole or not at all. dom0 refuses an empty list; to
// block everything, set "action=drop".
func (c *Client) FirewallSet(ctx context.Context, qube string, rules []string) error {
	if len(rules) == 0 {
		return errors.New("admin.vm.firewall.Set: an empty list is refused by dom0; to block everything, set action=drop")
	}
	var b strings.Builder
	for _, r := range rules {
		if strings.ContainsAny(r, "\n\r") {
			return fmt.Errorf("admin.vm.firewall.Set: rule %q spans lines", r)
		}
		b.WriteString(r)
		b.WriteByte('\n')
	}
	_, err := c.Call(ctx, "admin.vm.firewall.Set", "", qube, []byte(b.String()))
	if errors.Is(err, ErrEmptyResponse) {
		return fmt.Errorf("admin.vm.firewall.Set for %s: qubesd refused the list without saying why, as it does for a rule it does not accept: %w", qube, ErrEmptyResponse)
	}
	return err
}

// FirewallReload makes dom0 push qube's rules to its netvm again, which
// resolves their host names anew.
func (c *Client) FirewallReload(ctx context.Context, qube string) error {
	_, err := c.Call(ctx, "admin.vm.firewall.Reload", "", qube, nil)
	return err
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
