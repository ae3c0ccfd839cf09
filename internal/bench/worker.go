package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

// A worker process holds a share of a run's connections. It reads one
// JSON job line on its standard input and answers with JSON lines on its
// standard output: progress every progressEvery, the ramp's tally once
// every connection is open or failed, and the final tally once it is told
// to close (a line on its standard input, or the end of it) or its
// deadline passes. It then exits: it never outlives its job.

// workerMsg is one line a worker writes.
type workerMsg struct {
	Progress *progress `json:"progress,omitempty"`
	Ramp     *tally    `json:"ramp,omitempty"`
	Final    *tally    `json:"final,omitempty"`
	Error    string    `json:"error,omitempty"`
}

const (
	progressEvery = 100 * time.Millisecond
	// closeTimeout bounds how long a worker may take to report once told
	// to close.
	closeTimeout = 30 * time.Second
)

// Worker runs a worker process's side: it reads its job from in, writes
// its reports to out, and returns once it has sent the final tally.
func Worker(ctx context.Context, in io.Reader, out io.Writer) error {
	br := bufio.NewReader(in)
	line, err := br.ReadBytes('\n')
	if err != nil && len(line) == 0 {
		return fmt.Errorf("bench worker: reading the job: %w", err)
	}
	var j job
	if err := json.Unmarshal(line, &j); err != nil {
		return fmt.Errorf("bench worker: the job is not valid JSON: %w", err)
	}
	if j.Deadline.IsZero() {
		return errors.New("bench worker: the job has no deadline")
	}
	ctx, cancel := context.WithDeadline(ctx, j.Deadline)
	defer cancel()

	var mu sync.Mutex
	enc := json.NewEncoder(out)
	send := func(m workerMsg) error {
		mu.Lock()
		defer mu.Unlock()
		return enc.Encode(m)
	}
	f, err := newFleet(ctx, j)
	if err != nil {
		_ = send(workerMsg{Error: err.Error()})
		return err
	}

	stopProgress := make(chan struct{})
	var reporting sync.WaitGroup
	reporting.Go(func() {
		tk := time.NewTicker(progressEvery)
		defer tk.Stop()
		for {
			select {
			case <-tk.C:
				p := f.progress()
				if send(workerMsg{Progress: &p}) != nil {
					return
				}
			case <-stopProgress:
				return
			}
		}
	})

	// Told to close: a line or the end of the input, whichever comes.
	told := make(chan struct{})
	go func() {
		_, _ = br.ReadBytes('\n')
		close(told)
	}()

	// Being told to close ends a ramp in progress too.
	rctx, rcancel := context.WithCancel(ctx)
	defer rcancel()
	go func() {
		select {
		case <-told:
			rcancel()
		case <-rctx.Done():
		}
	}()
	t, rampErr := f.ramp(rctx)
	if rampErr == nil {
		rampErr = send(workerMsg{Ramp: t})
	}
	if rampErr == nil {
		select {
		case <-told:
		case <-ctx.Done():
		}
	}
	close(stopProgress)
	reporting.Wait()
	final, err := f.close()
	if err == nil {
		err = rampErr
	}
	if err != nil {
		_ = send(workerMsg{Error: err.Error()})
		return err
	}
	return send(workerMsg{Final: final})
}

// workerGroup is a group held by a worker process.
type workerGroup struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	last   atomic.Pointer[progress]
	ramped chan *tally // receives the ramp's tally
	final  chan *tally // receives the final tally
	done   chan struct{}
	errMsg atomic.Pointer[string] // the worker's error, if it sent one
}

var _ group = (*workerGroup)(nil)

// startWorker starts a worker process for j with the command line argv.
func startWorker(argv []string, j job, stderr io.Writer) (*workerGroup, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = stderr
	cmd.WaitDelay = 5 * time.Second
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting a worker process: %w", err)
	}
	w := &workerGroup{
		cmd: cmd, stdin: stdin,
		ramped: make(chan *tally, 1), final: make(chan *tally, 1), done: make(chan struct{}),
	}
	w.last.Store(&progress{})
	go w.read(stdout)
	line, _ := json.Marshal(j)
	if _, err := stdin.Write(append(line, '\n')); err != nil {
		w.kill()
		return nil, fmt.Errorf("sending a worker its job: %w", err)
	}
	return w, nil
}

// read reads the worker's reports until it closes its output.
func (w *workerGroup) read(stdout io.Reader) {
	defer close(w.done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for sc.Scan() {
		var m workerMsg
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			s := fmt.Sprintf("bad report from worker: %v", err)
			w.errMsg.Store(&s)
			continue
		}
		switch {
		case m.Progress != nil:
			w.last.Store(m.Progress)
		case m.Ramp != nil:
			select {
			case w.ramped <- m.Ramp:
			default: // only the first counts
			}
		case m.Final != nil:
			select {
			case w.final <- m.Final:
			default:
			}
		case m.Error != "":
			w.errMsg.Store(&m.Error)
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
}

func (w *workerGroup) pid() int { return w.cmd.Process.Pid }

// cpu returns the CPU seconds the worker has used: from /proc while it
// runs, from its exit status once it has ended.
func (w *workerGroup) cpu() float64 {
	if st := w.cmd.ProcessState; st != nil {
		return (st.UserTime() + st.SystemTime()).Seconds()
	}
	v, _ := procCPU(w.pid())
	return v
}

func (w *workerGroup) progress() progress { return *w.last.Load() }

func (w *workerGroup) ramp(ctx context.Context) (*tally, error) {
	select {
	case t := <-w.ramped:
		return t, nil
	case <-w.done:
		return nil, w.failure("ended before its ramp was over")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (w *workerGroup) close() (*tally, error) {
	_, _ = w.stdin.Write([]byte("close\n"))
	_ = w.stdin.Close()
	timeout := time.NewTimer(closeTimeout)
	defer timeout.Stop()
	select {
	case <-w.done: // the worker wrote its final report, if any, and exited
	case <-timeout.C:
		w.kill()
		return nil, errors.New("bench: a worker did not report in time; killed it")
	}
	var t *tally
	select {
	case t = <-w.final:
	default:
	}
	err := w.cmd.Wait()
	if t == nil {
		return nil, w.failure(fmt.Sprintf("ended without a final report (%v)", err))
	}
	return t, nil
}

// failure describes how the worker failed.
func (w *workerGroup) failure(what string) error {
	if m := w.errMsg.Load(); m != nil {
		return fmt.Errorf("bench: worker %d: %s", w.pid(), *m)
	}
	return fmt.Errorf("bench: worker %d %s", w.pid(), what)
}

// kill ends the worker process and waits for it.
func (w *workerGroup) kill() {
	_ = w.cmd.Process.Kill()
	_ = w.cmd.Wait()
}

// workerCommand returns the command line that starts a worker.
func workerCommand(o Options) ([]string, error) {
	if len(o.WorkerCommand) > 0 {
		return o.WorkerCommand, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("bench: finding this executable to start workers: %w", err)
	}
	return []string{exe, "bench", "worker"}, nil
}
