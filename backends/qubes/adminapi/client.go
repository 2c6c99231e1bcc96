package adminapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strings"
)

// Transport carries one encoded request to qubesd and returns its answer,
// read to the end.
type Transport interface {
	RoundTrip(ctx context.Context, r *Request) ([]byte, error)
}

// SocketPath is qubesd's Admin API socket in dom0.
const SocketPath = "/var/run/qubesd.sock"

// Socket is the transport in dom0: qubesd's Unix socket, with dom0 as the
// source.
type Socket struct {
	// Path is the socket; empty means SocketPath.
	Path string
}

// RoundTrip implements Transport.
func (s Socket) RoundTrip(ctx context.Context, r *Request) ([]byte, error) {
	path := s.Path
	if path == "" {
		path = SocketPath
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, fmt.Errorf("connect to qubesd: %w", err)
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		conn.SetDeadline(deadline)
	}
	if _, err := conn.Write(r.Encode()); err != nil {
		return nil, fmt.Errorf("send to qubesd: %w", err)
	}
	// qubesd starts on end of input.
	if err := conn.(*net.UnixConn).CloseWrite(); err != nil {
		return nil, fmt.Errorf("send to qubesd: %w", err)
	}
	b, err := io.ReadAll(conn)
	if err != nil {
		return nil, fmt.Errorf("read from qubesd: %w", err)
	}
	return b, nil
}

// Qrexec is the transport from a management qube: qrexec-client-vm, which
// dom0's qrexec policy must allow for each call (with target=dom0).
type Qrexec struct {
	// Path is the qrexec-client-vm executable; empty means the one in PATH.
	Path string
}

// RoundTrip implements Transport. qrexec-client-vm exits 0 whenever the
// call went through, whatever qubesd answered, 126 when the policy
// refused it.
func (q Qrexec) RoundTrip(ctx context.Context, r *Request) ([]byte, error) {
	path := q.Path
	if path == "" {
		path = "qrexec-client-vm"
	}
	service := r.Method
	if r.Arg != "" {
		service += "+" + r.Arg
	}
	cmd := exec.CommandContext(ctx, path, r.Dest, service)
	cmd.Stdin = bytes.NewReader(r.Payload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit) && exit.ExitCode() == 126:
		return nil, fmt.Errorf("%s %s: refused by dom0's qrexec policy", r.Dest, service)
	case err != nil:
		return nil, fmt.Errorf("qrexec-client-vm %s %s: %w: %s", r.Dest, service, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Client makes Admin API calls.
type Client struct {
	Transport Transport
	// Source is the calling qube's name, dom0 unless set.
	Source string
}

// Call makes one call and returns the content of its answer.
func (c *Client) Call(ctx context.Context, method, arg, dest string, payload []byte) ([]byte, error) {
	source := c.Source
	if source == "" {
		source = "dom0"
	}
	r := &Request{Method: method, Arg: arg, Source: source, Dest: dest, Payload: payload}
	n, upTo := r.WorstCaseLen(), "up to "
	if _, local := c.Transport.(Socket); local {
		// Through the socket the request is sent as it is, from dom0;
		// through qrexec dom0 writes the caller's name into it.
		n, upTo = r.Len(), ""
	}
	if n > MaxRequest {
		return nil, fmt.Errorf("%s for %s: the request takes %s%d bytes, over qubesd's limit of %d", method, dest, upTo, n, MaxRequest)
	}
	b, err := c.Transport.RoundTrip(ctx, r)
	if err != nil {
		return nil, err
	}
	content, err := ParseResponse(b)
	if err != nil {
		return nil, fmt.Errorf("%s for %s: %w", method, dest, err)
	}
	return content, nil
}
