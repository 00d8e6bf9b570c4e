package forwarder_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"mpcrelay/forwarder"
)

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { ws.Close() })
	return ws
}

func expect(t *testing.T, ws *websocket.Conn, typ int, want string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	gotTyp, got, err := ws.ReadMessage()
	if err != nil || gotTyp != typ || string(got) != want {
		t.Fatalf("Expected: %d %q / Actual: %d %q (err %v)", typ, want, gotTyp, got, err)
	}
}

func TestForwardsVerbatimWithinRoomOnly(t *testing.T) {
	fw := forwarder.New()
	srv := httptest.NewServer(fw)
	defer srv.Close()
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
	a, b, c := dial(t, url+"?room=r1"), dial(t, url+"?room=r1"), dial(t, url+"?room=r1")
	other := dial(t, url) // room ""
	for fw.Peers("r1") < 3 || fw.Peers("") < 1 {
		time.Sleep(time.Millisecond)
	}

	frame := `{"not":"parsed" , "kept":  "verbatim"}`
	if err := a.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Fatal(err)
	}
	expect(t, b, websocket.TextMessage, frame)
	expect(t, c, websocket.TextMessage, frame)
	if err := b.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	expect(t, a, websocket.BinaryMessage, "\x00\x01\x02")
	expect(t, c, websocket.BinaryMessage, "\x00\x01\x02")
	if err := other.WriteMessage(websocket.TextMessage, []byte("alone")); err != nil {
		t.Fatal(err)
	}
	// The sender never gets its own frame, and other rooms get nothing: the next frame a
	// receives is the one c sends now.
	if err := c.WriteMessage(websocket.TextMessage, []byte("from c")); err != nil {
		t.Fatal(err)
	}
	expect(t, a, websocket.TextMessage, "from c")
}

func TestStartServesUntilShutdown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url, shutdown, err := forwarder.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := dial(t, url)
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := shutdown(sctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	_ = a.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = a.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Fatalf("Expected: close 1001 after shutdown / Actual: %v", err)
	}
	if _, _, err := websocket.DefaultDialer.Dial(url, nil); err == nil {
		t.Fatal("Expected: no connection after shutdown / Actual: dial succeeded")
	}
}
