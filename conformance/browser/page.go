package browser

import (
	"embed"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// web holds the kit's page: index.html, the JavaScript client mpc-client.js (written from
// PROTOCOL.md) and flows.js (the §7 flows and the probes the cases evaluate).
//
//go:embed web
var web embed.FS

// Files is the page and its scripts, at the root of the file system.
func Files() fs.FS {
	sub, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded tree always has web/
	}
	return sub
}

// WriteFiles copies the page into dir (for a relay that serves it with --static).
func WriteFiles(dir string) error {
	return fs.WalkDir(Files(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(Files(), path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dir, path), data, 0o644)
	})
}

// PageServer serves the page on a loopback port of its own: each PageServer is an origin.
type PageServer struct {
	srv *http.Server
	ln  net.Listener
}

// ServePage starts a PageServer on 127.0.0.1 and a free port.
func ServePage() (*PageServer, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &PageServer{ln: ln, srv: &http.Server{Handler: http.FileServerFS(Files()), ReadHeaderTimeout: 10 * time.Second}}
	go func() { _ = p.srv.Serve(ln) }() // ends with Close
	return p, nil
}

// Origin is the page's origin, e.g. "http://127.0.0.1:41234".
func (p *PageServer) Origin() string { return "http://" + p.ln.Addr().String() }

// URL is the page's address.
func (p *PageServer) URL() string { return p.Origin() + "/index.html" }

// Close stops serving.
func (p *PageServer) Close() error { return p.srv.Close() }
