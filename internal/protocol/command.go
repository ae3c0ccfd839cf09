package protocol

import (
	"encoding/json"
	"fmt"
)

// Client command ops.
const (
	OpSubscribe   = "subscribe"
	OpUnsubscribe = "unsubscribe"
	OpPublish     = "publish"
	OpPing        = "ping"
	OpHistory     = "history"
	OpAuth        = "auth"
)

// Resume is what a subscribe asks to be replayed: the messages after a
// position, or the last Rewind messages.
type Resume struct {
	From   Position
	Rewind uint64 // when not 0: replay the last Rewind messages instead
}

// Command is one client command on a WebSocket connection.
type Command struct {
	ID      uint64          `json:"id"`
	Op      string          `json:"op"`
	Channel string          `json:"channel,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
	Since   json.RawMessage `json:"since,omitempty"` // subscribe: a position or {"rewind":N}; history: an offset
	Limit   int             `json:"limit,omitempty"` // history: how many messages at most
	Token   string          `json:"token,omitempty"` // auth: a connection token; subscribe: a subscription token

	Resume *Resume `json:"-"` // subscribe: the decoded "since"
	After  *uint64 `json:"-"` // history: the decoded "since"
}

// DecodeCommand parses one command frame. On error the returned command
// still holds the id if the frame carried a readable one, so the error
// reply can name it. Channel names are not validated here.
func DecodeCommand(frame []byte) (Command, *Error) {
	var cmd Command
	if err := json.Unmarshal(frame, &cmd); err != nil {
		// Try for the id alone so the reply can be matched.
		var idOnly struct {
			ID uint64 `json:"id"`
		}
		if json.Unmarshal(frame, &idOnly) == nil {
			cmd = Command{ID: idOnly.ID}
		} else {
			cmd = Command{}
		}
		return cmd, &Error{Code: CodeBadRequest, Message: "command is not a valid JSON object: " + jsonProblem(err)}
	}
	if string(cmd.Since) == "null" {
		cmd.Since = nil // as if absent
	}
	if cmd.ID == 0 {
		return cmd, &Error{Code: CodeBadRequest, Message: "command needs a positive integer \"id\""}
	}
	switch cmd.Op {
	case OpSubscribe, OpUnsubscribe:
		if cmd.Channel == "" {
			return cmd, &Error{Code: CodeInvalidChannel, Message: "command needs a \"channel\""}
		}
		if cmd.Op == OpSubscribe && len(cmd.Since) > 0 {
			r, err := decodeResume(cmd.Since)
			if err != nil {
				return cmd, err
			}
			cmd.Resume = r
		}
	case OpHistory:
		if cmd.Channel == "" {
			return cmd, &Error{Code: CodeInvalidChannel, Message: "command needs a \"channel\""}
		}
		if cmd.Limit < 0 {
			return cmd, &Error{Code: CodeBadRequest, Message: "\"limit\" must not be negative"}
		}
		if len(cmd.Since) > 0 {
			var after uint64
			if json.Unmarshal(cmd.Since, &after) != nil {
				return cmd, &Error{Code: CodeBadRequest, Message: "history \"since\" must be an offset (a whole number)"}
			}
			cmd.After = &after
		}
	case OpPublish:
		if cmd.Channel == "" {
			return cmd, &Error{Code: CodeInvalidChannel, Message: "command needs a \"channel\""}
		}
		if len(cmd.Data) == 0 { // an explicit null is data; an absent field is not
			return cmd, &Error{Code: CodeBadRequest, Message: "publish needs \"data\""}
		}
	case OpAuth:
		if cmd.Token == "" {
			return cmd, &Error{Code: CodeUnauthorized, Reason: "missing", Message: "auth needs a \"token\""}
		}
	case OpPing:
	case "":
		return cmd, &Error{Code: CodeUnknownOp, Message: "command needs an \"op\""}
	default:
		return cmd, &Error{Code: CodeUnknownOp, Message: fmt.Sprintf("op %q is not known; known: auth, subscribe, unsubscribe, publish, history, ping", truncate(cmd.Op, 32))}
	}
	return cmd, nil
}

// decodeResume reads a subscribe's "since": {"epoch":"e","offset":N} or
// {"rewind":N}.
func decodeResume(raw json.RawMessage) (*Resume, *Error) {
	var s struct {
		Epoch  *string `json:"epoch"`
		Offset *uint64 `json:"offset"`
		Rewind *uint64 `json:"rewind"`
	}
	bad := &Error{Code: CodeBadRequest, Message: "\"since\" must be {\"epoch\":\"...\",\"offset\":N} or {\"rewind\":N}"}
	if json.Unmarshal(raw, &s) != nil {
		return nil, bad
	}
	switch {
	case s.Rewind != nil && s.Epoch == nil && s.Offset == nil:
		if *s.Rewind == 0 {
			return nil, &Error{Code: CodeBadRequest, Message: "\"rewind\" must be at least 1"}
		}
		return &Resume{Rewind: *s.Rewind}, nil
	case s.Rewind == nil && s.Offset != nil:
		epoch := ""
		if s.Epoch != nil {
			epoch = *s.Epoch
		}
		if !ValidEpoch(epoch) {
			return nil, &Error{Code: CodeBadRequest, Message: "\"epoch\" is not one a server gives out"}
		}
		return &Resume{From: Position{Epoch: epoch, Offset: *s.Offset}}, nil
	}
	return nil, bad
}

// jsonProblem shortens a decoder error for a client.
func jsonProblem(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return fmt.Sprintf("syntax error at byte %d", e.Offset)
	case *json.UnmarshalTypeError:
		if e.Field == "" {
			return "expected an object, got " + e.Value
		}
		return fmt.Sprintf("field %q must not be %s", e.Field, e.Value)
	default:
		return truncate(err.Error(), 100)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
