package main_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// The process tests run the real binary, built once.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "herald-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-race", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		panic("build herald: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// serve starts `herald serve` and returns the process and its address.
func serve(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--listen", "127.0.0.1:0", "--log-format", "json", "--drain-timeout", "200ms"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if !json.Valid(sc.Bytes()) {
				t.Log(sc.Text())
			}
			var line struct {
				Msg    string `json:"msg"`
				Listen string `json:"listen"`
			}
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Listen != "" {
				addr <- line.Listen
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case a := <-addr:
		return cmd, a
	case <-time.After(30 * time.Second):
		t.Fatal("herald serve did not log its address")
	}
	return nil, ""
}

func TestSIGTERMDrainsClientsAndExitsZero(t *testing.T) {
	cmd, addr := serve(t)
	conn, br, _, err := ws.Dial(context.Background(), "ws://"+addr+"/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rd := io.ReadWriter(conn)
	if br != nil {
		rd = struct {
			io.Reader
			io.Writer
		}{io.MultiReader(br, conn), conn}
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := wsutil.ReadServerText(rd); err != nil { // welcome
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	var disconnect struct {
		Op        string `json:"op"`
		Code      int    `json:"code"`
		Reconnect bool   `json:"reconnect"`
	}
	for {
		b, err := wsutil.ReadServerText(rd)
		if err != nil {
			var ce wsutil.ClosedError
			if !errors.As(err, &ce) || ce.Code != 3001 {
				t.Fatalf("connection ended with %v, want close 3001", err)
			}
			break
		}
		_ = json.Unmarshal(b, &disconnect)
	}
	if disconnect.Op != "disconnect" || disconnect.Code != 3001 || !disconnect.Reconnect {
		t.Fatalf("disconnect frame %+v, want 3001 with reconnect", disconnect)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("herald exited with %v, want 0", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("herald did not exit after SIGTERM")
	}
}

func TestInvalidConfigFailsAtStart(t *testing.T) {
	out, err := exec.Command(binary, "serve", "--role", "bogus", "--max-subscriptions", "0").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("herald serve with a bad config: err %v, output %s", err, out)
	}
	for _, want := range []string{"role", "max-subscriptions"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("error output does not name %q:\n%s", want, out)
		}
	}
}
