package engineio

import (
	"net/url"
	"testing"
)

// TestParseRequestParamsAsParseQuery: the three parameters come out as
// url.ParseQuery and Values.Get give them, for ordinary, repeated,
// escaped, empty and malformed queries.
func TestParseRequestParamsAsParseQuery(t *testing.T) {
	for _, raw := range []string{
		"",
		"EIO=4&transport=polling",
		"EIO=4&transport=polling&t=Oa1b2c&sid=abc_-DEF123",
		"transport=websocket&EIO=4&sid=a%2Bb&transport=polling",
		"sid=&sid=second&EIO=3",
		"EIO=4;transport=polling&transport=websocket",
		"transport=poll%ZZing&transport=polling&EIO",
		"%74ransport=polling&EIO=%34&sid=x+y",
		"&&=&EIO=4&&",
		"sid=a=b&EIO=4=4",
		"j=1&b64=1&EIO=4&transport=polling&sid=s%zz&sid=ok",
	} {
		q, _ := url.ParseQuery(raw)
		want := requestParams{transport: q.Get("transport"), sid: q.Get("sid"), eio: q.Get("EIO")}
		if got := parseRequestParams(raw); got != want {
			t.Errorf("parseRequestParams(%q) = %+v, want %+v (url.ParseQuery)", raw, got, want)
		}
	}
}

func BenchmarkParseRequestParams(b *testing.B) {
	const raw = "EIO=4&transport=polling&t=PQx3_9a&sid=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	b.Run("parseRequestParams", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			_ = parseRequestParams(raw)
		}
	})
	b.Run("url.ParseQuery", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			q, _ := url.ParseQuery(raw)
			_ = q.Get("sid")
		}
	})
}
