package safetensors

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzDecode checks that Decode never panics, that its errors are one line
// naming the file, and that whatever it accepts survives a re-encode: the
// content is unchanged and the encoding is a fixed point. Plain `go test`
// runs the seeds in testdata/fuzz/FuzzDecode.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := Decode(data, "fuzz.safetensors")
		if err != nil {
			if msg := err.Error(); !strings.HasPrefix(msg, "fuzz.safetensors: ") || strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line naming the file: %q", msg)
			}
			return
		}
		var enc bytes.Buffer
		if err := Encode(&enc, got); err != nil {
			t.Fatalf("decoded content does not encode: %v", err)
		}
		again, err := Decode(enc.Bytes(), "re-encoded.safetensors")
		if err != nil {
			t.Fatalf("re-encoded content does not decode: %v", err)
		}
		if d := diffFiles(got, again); d != "" {
			t.Fatalf("re-encoding changed the content: %s", d)
		}
		var enc2 bytes.Buffer
		if err := Encode(&enc2, again); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc.Bytes(), enc2.Bytes()) {
			t.Fatalf("encoding is not canonical:\n%q\n%q", enc.Bytes(), enc2.Bytes())
		}
	})
}
