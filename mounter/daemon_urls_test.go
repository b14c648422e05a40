//go:build linux

package mounter

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stallingListServer is a hostile --url-list server: it answers the
// first `answered` connections with an empty list, then accepts
// connections and never sends a byte. It returns the list's URL.
func stallingListServer(t *testing.T, answered int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if n < answered {
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(10 * time.Second))
					buf := make([]byte, 4096)
					c.Read(buf) // the request; its content does not matter
					io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				}()
				continue
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	})
	return fmt.Sprintf("http://%s/list.txt", ln.Addr())
}

// httpFetchList reads a list over plain HTTP, bounded only by ctx (the
// daemon's own FetchList gives up on a stall after a minute; this one
// waits for ever, so a watcher that waited on it never recovers).
func httpFetchList(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxURLList+1))
}

// stallSetup makes a watch folder holding early.iso, a mount root, and
// the bytes of another image to copy in later.
func stallSetup(t *testing.T) (dir, watch, root string, data []byte) {
	t.Helper()
	requireFUSE(t)
	dir = t.TempDir()
	watch, root = filepath.Join(dir, "watch"), filepath.Join(dir, "mnt")
	must(t, os.Mkdir(watch, 0o755))
	makeISO(t, filepath.Join(watch, "early.iso"), map[string]string{"e.txt": "early\n"})
	src := filepath.Join(dir, "late.iso")
	makeISO(t, src, map[string]string{"l.txt": "late\n"})
	data, err := os.ReadFile(src)
	must(t, err)
	return dir, watch, root, data
}

// TestRemoteListStallReady: a --url-list server that accepts and never
// answers does not hold READY (startDaemon fails if READY does not come
// within its bound; the old daemon fetched the list before READY and
// waited for the stall timeout), the folder's image present at start is
// mounted by READY as before, and an image copied in later is mounted
// while the list fetch still hangs.
func TestRemoteListStallReady(t *testing.T) {
	dir, watch, root, data := stallSetup(t)
	list := stallingListServer(t, 0)
	rd := startDaemon(t, DaemonOptions{Socket: filepath.Join(dir, "ctl.sock"), Watch: watch, MountRoot: root,
		StableFor: 300 * time.Millisecond, URLList: list, FetchList: httpFetchList})
	if !listed(rd.d, filepath.Join(root, "early")) {
		t.Fatalf("early.iso not mounted at READY\n%s", rd.log)
	}
	must(t, os.WriteFile(filepath.Join(watch, "late.iso"), data, 0o644))
	mp := filepath.Join(root, "late")
	waitFor(t, 20*time.Second, "late.iso mounted while the list server stalls", func() bool { return listed(rd.d, mp) }, rd.log)
	if got := readFile(t, filepath.Join(mp, "l.txt")); got != "late\n" {
		t.Errorf("late/l.txt: %q", got)
	}
}

// TestRemoteListStallWatch: the list server answers once, then stalls
// on every later fetch (every second: after READY, which takes the
// stability window here). The watch folder goes on being
// served: an image copied in is mounted (the old daemon fetched the list
// in the loop that scans the folder, and a stalled fetch stopped both).
func TestRemoteListStallWatch(t *testing.T) {
	dir, watch, root, data := stallSetup(t)
	list := stallingListServer(t, 1)
	second := make(chan struct{})
	var n atomic.Int32
	fetch := func(ctx context.Context, u string) ([]byte, error) {
		if n.Add(1) == 2 {
			close(second)
		}
		return httpFetchList(ctx, u)
	}
	rd := startDaemon(t, DaemonOptions{Socket: filepath.Join(dir, "ctl.sock"), Watch: watch, MountRoot: root,
		StableFor: 300 * time.Millisecond, URLList: list, URLListEvery: time.Second, FetchList: fetch})
	// Copy once the second fetch — the one that hangs — is under way.
	select {
	case <-second:
	case <-time.After(20 * time.Second):
		t.Fatalf("the list was not fetched a second time\n%s", rd.log)
	}
	must(t, os.WriteFile(filepath.Join(watch, "late.iso"), data, 0o644))
	mp := filepath.Join(root, "late")
	waitFor(t, 20*time.Second, "late.iso mounted while the list server stalls", func() bool { return listed(rd.d, mp) }, rd.log)
	if got := readFile(t, filepath.Join(mp, "l.txt")); got != "late\n" {
		t.Errorf("late/l.txt: %q", got)
	}
}
