package bind_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/clipia/apiguard/bind"
)

// The slow client: a valid request whose headers arrive and whose
// body then dribbles in a byte at a time (or not at all). Bind answers 400
// invalid_request once its ReadTimeout passes and the connection is closed,
// instead of holding the handler until the client finishes.
func TestBindSlowBody(t *testing.T) {
	const bound = 10 * time.Second // far above the timeout: only "never" fails
	mux := http.NewServeMux()
	mux.Handle("POST /m", route(t, bind.Config{ReadTimeout: 300 * time.Millisecond}, noContent[msgRequest]))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	body := `{"model":"m","duration":5,"tags":["` + strings.Repeat("a", 1000) + `"]}`
	for _, tc := range []struct {
		name, header, body string
	}{
		{"dribbled", "Content-Length: 1050", body},
		{"nothing sent", "Content-Length: 1050", ""},
		{"chunked, dribbled", "Transfer-Encoding: chunked", "41a\r\n" + body},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(bound)); err != nil {
				t.Fatal(err)
			}
			head := "POST /m HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" + tc.header + "\r\n\r\n"
			if _, err := io.WriteString(conn, head); err != nil {
				t.Fatal(err)
			}
			stop, done := make(chan struct{}), make(chan struct{})
			go func() { // one byte every 20ms, until told to stop or refused
				defer close(done)
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				for i := 0; i < len(tc.body); i++ {
					select {
					case <-stop:
						return
					case <-tick.C:
					}
					if _, err := conn.Write([]byte{tc.body[i]}); err != nil {
						return
					}
				}
			}()
			defer func() { close(stop); <-done }()

			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer before %v: %v", bound, err)
			}
			var env envelope
			err = json.NewDecoder(resp.Body).Decode(&env)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("the answer is not the envelope: %v", err)
			}
			if resp.StatusCode != http.StatusBadRequest || env.Error.Code != "invalid_request" ||
				env.Error.Message != "The request body was not received in time." {
				t.Fatalf("got %d %s %q, want 400 invalid_request %q",
					resp.StatusCode, env.Error.Code, env.Error.Message, "The request body was not received in time.")
			}
			if _, err := br.ReadByte(); err != io.EOF {
				if ne, ok := err.(net.Error); err == nil || (ok && ne.Timeout()) {
					t.Errorf("the connection stayed open after the answer (%v)", err)
				}
			}
		})
	}
}

func TestBindReadTimeoutConfig(t *testing.T) {
	if _, err := bind.New[msgRequest](bind.Config{ReadTimeout: -time.Second}); err == nil {
		t.Error("a negative ReadTimeout: got no error, want one")
	}
	if _, err := bind.New[msgRequest](bind.Config{}); err != nil {
		t.Errorf("zero ReadTimeout (the default): got %v", err)
	}
}
