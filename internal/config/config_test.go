package config

import (
	"strings"
	"testing"
	"time"
)

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Role = "both"
	c.QueueBytes = 1000
	c.PollTimeout = 2 * time.Minute
	c.NATSUser = "u" // only with --nats-url
	c.SubjectPrefix = "a.*"
	c.ShutdownDelay = -time.Second
	c.MaxConnections = -1
	c.MaxPollSessionsPerIP = -5
	c.ClientCommandBurst = 70000
	c.ClientPublishBurst = 0
	c.MaxPollSessions = 0
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate accepted a bad config")
	}
	for _, want := range []string{"role", "queue-bytes", "poll-timeout", "nats-user", "subject-prefix", "shutdown-delay",
		"max-connections:", "max-poll-sessions-per-ip", "client-command-burst", "client-publish-burst", "max-poll-sessions:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not name %s:\n%v", want, err)
		}
	}
}

func TestDefaultIsValid(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if got := DefaultName(":8080"); !strings.HasSuffix(got, ":8080") {
		t.Fatalf("DefaultName = %q, want host:8080", got)
	}
}
