package ctlproto

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestDecodeRequest(t *testing.T) {
	for _, tc := range []struct {
		name, line, code string
	}{
		{"list", `{"version":1,"op":"list"}`, ""},
		{"status", `{"version":1,"op":"status"}`, ""},
		{"mount", `{"version":1,"op":"mount","mount":{"image":"/a.iso","mountpoint":"/mnt","tree":"joliet","uid":0}}`, ""},
		{"unmount", `{"version":1,"op":"unmount","mountpoint":"/mnt","lazy":true}`, ""},
		{"not json", `hello`, CodeBadRequest},
		{"empty", ``, CodeBadRequest},
		{"array", `[1,2]`, CodeBadRequest},
		{"trailing", `{"version":1,"op":"list"} {}`, CodeBadRequest},
		{"typo field", `{"version":1,"op":"unmount","mountpiont":"/mnt"}`, CodeBadRequest},
		{"wrong type", `{"version":"1","op":"list"}`, CodeBadRequest},
		{"old version", `{"version":0,"op":"list"}`, CodeVersion},
		{"future version", `{"version":2,"op":"list"}`, CodeVersion},
		{"no op", `{"version":1}`, CodeBadRequest},
		{"unknown op", `{"version":1,"op":"format-disk"}`, CodeUnknownOp},
		{"mount without body", `{"version":1,"op":"mount"}`, CodeBadRequest},
		{"relative image", `{"version":1,"op":"mount","mount":{"image":"a.iso","mountpoint":"/mnt"}}`, CodeBadRequest},
		{"bad tree", `{"version":1,"op":"mount","mount":{"image":"/a.iso","mountpoint":"/mnt","tree":"fat"}}`, CodeBadRequest},
		{"bad umask", `{"version":1,"op":"mount","mount":{"image":"/a.iso","mountpoint":"/mnt","umask":4096}}`, CodeBadRequest},
		{"negative uid", `{"version":1,"op":"mount","mount":{"image":"/a.iso","mountpoint":"/mnt","uid":-1}}`, CodeBadRequest},
		{"relative unmount", `{"version":1,"op":"unmount","mountpoint":"mnt"}`, CodeBadRequest},
		{"auto mountpoint", `{"version":1,"op":"mount","mount":{"image":"/a.iso","auto_mountpoint":true}}`, ""},
		{"no mountpoint", `{"version":1,"op":"mount","mount":{"image":"/a.iso"}}`, CodeBadRequest},
		{"auto and mountpoint", `{"version":1,"op":"mount","mount":{"image":"/a.iso","mountpoint":"/mnt","auto_mountpoint":true}}`, CodeBadRequest},
		{"auto relative image", `{"version":1,"op":"mount","mount":{"image":"a.iso","auto_mountpoint":true}}`, CodeBadRequest},
		{"huge", `{"version":1,"op":"list","x":"` + strings.Repeat("a", MaxRequest) + `"}`, CodeTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, e := DecodeRequest([]byte(tc.line))
			if tc.code == "" {
				if e != nil || req == nil {
					t.Fatalf("want success, got %v", e)
				}
				return
			}
			if e == nil || e.Code != tc.code {
				t.Fatalf("want code %s, got %v (req %+v)", tc.code, e, req)
			}
		})
	}
}

func TestReadLine(t *testing.T) {
	long := strings.Repeat("x", 10000)
	br := bufio.NewReaderSize(strings.NewReader("a\n"+long+"\nb\r\npartial"), 16)
	for _, want := range []string{"a", long, "b"} {
		got, err := ReadLine(br, 20000)
		if err != nil || string(got) != want {
			t.Fatalf("got %.20q, %v; want %.20q", got, err, want)
		}
	}
	if _, err := ReadLine(br, 20000); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("partial last line: got %v, want unexpected EOF", err)
	}
	if _, err := ReadLine(bufio.NewReaderSize(strings.NewReader(long+"\n"), 16), 100); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("long line: got %v, want ErrTooLarge", err)
	}
	if _, err := ReadLine(bufio.NewReader(strings.NewReader("")), 100); !errors.Is(err, io.EOF) {
		t.Fatalf("empty input: got %v, want EOF", err)
	}
}

// TestCallRoundTrip runs Call against a scripted peer.
func TestCallRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		wantErr     string
	}{
		{"ok", `{"version":1,"ok":true,"mounts":[{"mountpoint":"/m","image":"/i","tree":"udf","cache_hits":3,"cache_misses":1}]}`, ""},
		{"daemon error", `{"version":1,"ok":false,"error":{"code":"busy","message":"files open"}}`, "files open (busy)"},
		{"wrong version", `{"version":9,"ok":true}`, "protocol version 9"},
		{"garbage", `}{`, "malformed response"},
		{"neither", `{"version":1,"ok":false}`, "neither ok nor an error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sent bytes.Buffer
			rw := struct {
				io.Reader
				io.Writer
			}{strings.NewReader(tc.reply + "\n"), &sent}
			resp, err := Call(rw, bufio.NewReader(rw.Reader), &Request{Op: OpList})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if sent.String() != `{"version":1,"op":"list"}`+"\n" {
				t.Fatalf("sent %q", sent.String())
			}
			if len(resp.Mounts) != 1 || resp.Mounts[0].CacheHitRate() != 0.75 {
				t.Fatalf("got %+v", resp)
			}
		})
	}
}

// FuzzDecodeRequest checks that no input crashes the decoder and that
// every accepted request is valid and survives a round trip.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"version":1,"op":"list"}`,
		`{"version":1,"op":"mount","mount":{"image":"/a.iso","mountpoint":"/mnt","options":["allow_other"]}}`,
		`{"version":1,"op":"unmount","mountpoint":"/mnt"}`,
		`{"version":1,"op":"mount","mount":null}`,
		`{"version":1e400}`, `[]`, `"\ud800"`, `{"op":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		req, e := DecodeRequest(b)
		if (req == nil) == (e == nil) {
			t.Fatalf("exactly one of request/error expected: %v %v", req, e)
		}
		if req == nil {
			if e.Code == "" || e.Message == "" {
				t.Fatalf("error without code or message: %+v", e)
			}
			return
		}
		if req.Version != Version || req.Op == "" {
			t.Fatalf("accepted invalid request %+v", req)
		}
		var buf bytes.Buffer
		if err := Write(&buf, req); err != nil {
			t.Fatal(err)
		}
		line, err := ReadLine(bufio.NewReader(&buf), MaxMessage)
		if err != nil {
			t.Fatal(err)
		}
		if _, e := DecodeRequest(line); e != nil {
			t.Fatalf("re-encoded request refused: %v\n%s", e, line)
		}
	})
}
