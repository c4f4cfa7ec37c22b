package httphead

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRequestLine(t *testing.T) {
	long := "GET /" + strings.Repeat("a", MaxRequestLine) + " HTTP/1.1\r\n"
	exact := "GET /" + strings.Repeat("a", MaxRequestLine-16) + " HTTP/1.1\r\n" // 8192 bytes
	tests := []struct {
		in           string
		wantSID      string
		wantTarget   string
		wantComplete bool
		wantErr      error
	}{
		{"GET / HTTP/1.1\r\n", "", "/", true, nil},
		{"GET / HTTP/1.0\n", "", "/", true, nil},
		{"GET /socket.io/?EIO=4&transport=polling&sid=AAAAAQ HTTP/1.1\r\nHost: x\r\n\r\n", "AAAAAQ", "/socket.io/?EIO=4&transport=polling&sid=AAAAAQ", true, nil},
		{"POST /x?sid=abc&sid=def HTTP/1.1\r\n", "abc", "/x?sid=abc&sid=def", true, nil},
		{"GET /x?xsid=abc HTTP/1.1\r\n", "", "/x?xsid=abc", true, nil},
		{"GET /x?sidx=abc HTTP/1.1\r\n", "", "/x?sidx=abc", true, nil},
		{"GET /x?a=1&sid= HTTP/1.1\r\n", "", "/x?a=1&sid=", true, nil},
		{"GET /x?s%69d=a%2Bb HTTP/1.1\r\n", "a+b", "/x?s%69d=a%2Bb", true, nil},
		{"GET /x?sid=a;b&sid=c HTTP/1.1\r\n", "c", "/x?sid=a;b&sid=c", true, nil},
		{"GET /x?sid=%zz&sid=ok HTTP/1.1\r\n", "ok", "/x?sid=%zz&sid=ok", true, nil},
		{"GET /sid=abc HTTP/1.1\r\n", "", "/sid=abc", true, nil},
		{"GET http://h/p?sid=q HTTP/1.1\r\n", "q", "http://h/p?sid=q", true, nil},
		{"OPTIONS * HTTP/1.1\r\n", "", "*", true, nil},
		{exact, "", exact[4 : len(exact)-11], true, nil},
		// Unfinished prefixes.
		{"", "", "", false, nil},
		{"GE", "", "", false, nil},
		{"GET /socket.io/?sid=abc", "", "", false, nil},
		{"GET / HTTP/1.1\r", "", "", false, nil},
		{"\x16", "", "", false, nil},
		{"PRI * HTT", "", "", false, nil},
		// Bad input.
		{long, "", "", false, ErrLineTooLong},
		{strings.Repeat("G", MaxRequestLine), "", "", false, ErrLineTooLong},
		{"\x16\x03\x01\x02\x00\x01", "", "", false, ErrTLS},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "", "", false, ErrHTTP2},
		{"hello world\r\n", "", "", false, ErrBadRequest},
		{"GET /\r\n", "", "", false, ErrBadRequest},
		{"GET  / HTTP/1.1\r\n", "", "", false, ErrBadRequest},
		{"GET / HTTP/2.0\r\n", "", "", false, ErrBadRequest},
		{"GET / HTTP/1.1 \r\n", "", "", false, ErrBadRequest},
		{"G(T / HTTP/1.1\r\n", "", "", false, ErrBadRequest},
		{" GET", "", "", false, ErrBadRequest},
		{"GE\x00T", "", "", false, ErrBadRequest},
		{"GET /\x01", "", "", false, ErrBadRequest},
		{"\r\n", "", "", false, ErrBadRequest},
		{"SSH-2.0-OpenSSH_9.6\r\n", "", "", false, ErrBadRequest},
	}
	for _, tt := range tests {
		rl, complete, err := ParseRequestLine([]byte(tt.in))
		name := tt.in
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		if got, want := err, tt.wantErr; !errors.Is(got, want) || (want == nil && got != nil) {
			t.Errorf("%q: error = %v, want %v", name, got, want)
			continue
		}
		if got, want := complete, tt.wantComplete; got != want {
			t.Errorf("%q: complete = %v, want %v", name, got, want)
		}
		if got, want := rl.SID, tt.wantSID; got != want {
			t.Errorf("%q: sid = %q, want %q", name, got, want)
		}
		if got, want := rl.Target, tt.wantTarget; got != want {
			t.Errorf("%q: target = %q, want %q", name, got, want)
		}
		if complete {
			if got, want := rl.Len, strings.IndexByte(tt.in, '\n')+1; got != want {
				t.Errorf("%q: len = %d, want %d", name, got, want)
			}
		}
	}
}

func FuzzParseRequestLine(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\n", "GET /socket.io/?EIO=4&transport=websocket&sid=AAAAAQAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\n",
		"\x16\x03\x01", "PRI * HTTP/2.0\r\n", "GET /?s%69d=x;y&sid=%41 HTTP/1.0\n", "garbage\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		rl, complete, err := ParseRequestLine(b)
		if err != nil && complete {
			t.Fatalf("complete with error %v", err)
		}
		if err != nil && !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrLineTooLong) && !errors.Is(err, ErrTLS) && !errors.Is(err, ErrHTTP2) {
			t.Fatalf("unexpected error %v", err)
		}
		if !complete {
			if err == nil && len(b) >= MaxRequestLine {
				t.Fatalf("incomplete at %d bytes without ErrLineTooLong", len(b))
			}
			return
		}
		if rl.Len > len(b) || rl.Len > MaxRequestLine || b[rl.Len-1] != '\n' {
			t.Fatalf("bad Len %d", rl.Len)
		}
		if !strings.Contains(string(b[:rl.Len]), rl.Target) {
			t.Fatalf("target %q not in line", rl.Target)
		}
		if rl.SID != "" && !strings.Contains(rl.Target, "?") {
			t.Fatalf("sid %q without query", rl.SID)
		}
		// Prefixes of a complete line are never errors.
		for i := 0; i < rl.Len; i++ {
			if _, c, err := ParseRequestLine(b[:i]); err != nil || c {
				t.Fatalf("prefix %d of a valid line: complete=%v err=%v", i, c, err)
			}
		}
		// A longer input with the same line parses the same.
		rl2, c2, err2 := ParseRequestLine(append(append([]byte{}, b[:rl.Len]...), "X: y\r\n"...))
		if !c2 || err2 != nil || rl2 != rl {
			t.Fatalf("extended input parses differently: %+v %v %v", rl2, c2, err2)
		}
	})
}

// BenchmarkParseRequestLine: a websocket upgrade's request line with a
// sid, as the accept loop parses it for each connection. It allocates the
// method, target and sid strings it returns.
func BenchmarkParseRequestLine(b *testing.B) {
	line := []byte("GET /socket.io/?EIO=4&transport=websocket&sid=AAAAAQAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if _, complete, err := ParseRequestLine(line); !complete || err != nil {
			b.Fatal(complete, err)
		}
	}
}
