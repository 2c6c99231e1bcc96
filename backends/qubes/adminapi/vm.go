package adminapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// Feature returns the value of qube's feature name, and whether the qube
// has it at all.
func (c *Client) Feature(ctx context.Context, qube, name string) (value string, ok bool, err error) {
	b, err := c.Call(ctx, "admin.vm.feature.Get", name, qube, nil)
	var exc *Exception
	switch {
	case errors.As(err, &exc) && exc.Type == "QubesFeatureNotFoundError":
		return "", false, nil
	case err != nil:
		return "", false, err
	}
	return string(b), true, nil
}

// SetFeature sets qube's feature name to value.
func (c *Client) SetFeature(ctx context.Context, qube, name, value string) error {
	_, err := c.Call(ctx, "admin.vm.feature.Set", name, qube, []byte(value))
	return err
}

// SetProperty sets qube's property name to value, as text: for a qube
// reference, its name, or empty for none.
func (c *Client) SetProperty(ctx context.Context, qube, name, value string) error {
	_, err := c.Call(ctx, "admin.vm.property.Set", name, qube, []byte(value))
	return err
}

// Create creates the qube name of class class (such as StandaloneVM),
// with label label and no template.
func (c *Client) Create(ctx context.Context, class, name, label string) error {
	for _, f := range []struct{ what, v string }{{"class", class}, {"name", name}, {"label", label}} {
		if f.v == "" || strings.ContainsAny(f.v, " =\x00\n") {
			return fmt.Errorf("admin.vm.Create: %s %q cannot be sent", f.what, f.v)
		}
	}
	_, err := c.Call(ctx, "admin.vm.Create."+class, "", "dom0", []byte("name="+name+" label="+label))
	return err
}

// SetTag tags qube with tag; a tag it has already stays.
func (c *Client) SetTag(ctx context.Context, qube, tag string) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	_, err := c.Call(ctx, "admin.vm.tag.Set", tag, qube, nil)
	return err
}

// RemoveTag removes tag from qube; qubesd refuses a tag the qube does not
// have (QubesTagNotFoundError).
func (c *Client) RemoveTag(ctx context.Context, qube, tag string) error {
	if err := checkTag(tag); err != nil {
		return err
	}
	_, err := c.Call(ctx, "admin.vm.tag.Remove", tag, qube, nil)
	return err
}

// checkTag refuses a tag qubesd would refuse: it takes ASCII letters,
// digits, "-" and "_", and answers nothing at all to anything else.
func checkTag(tag string) error {
	if !ValidTag(tag) {
		return fmt.Errorf("tag %q: a tag is ASCII letters, digits, \"-\" and \"_\"", tag)
	}
	return nil
}

// ValidTag reports whether qubesd takes tag as a tag.
func ValidTag(tag string) bool {
	if tag == "" {
		return false
	}
	for i := 0; i < len(tag); i++ {
		if c := tag[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
