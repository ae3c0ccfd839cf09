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
)

// Command is one client command on a WebSocket connection.
type Command struct {
	ID      uint64          `json:"id"`
	Op      string          `json:"op"`
	Channel string          `json:"channel,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
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
	if cmd.ID == 0 {
		return cmd, &Error{Code: CodeBadRequest, Message: "command needs a positive integer \"id\""}
	}
	switch cmd.Op {
	case OpSubscribe, OpUnsubscribe:
		if cmd.Channel == "" {
			return cmd, &Error{Code: CodeInvalidChannel, Message: "command needs a \"channel\""}
		}
	case OpPublish:
		if cmd.Channel == "" {
			return cmd, &Error{Code: CodeInvalidChannel, Message: "command needs a \"channel\""}
		}
		if len(cmd.Data) == 0 { // an explicit null is data; an absent field is not
			return cmd, &Error{Code: CodeBadRequest, Message: "publish needs \"data\""}
		}
	case OpPing:
	case "":
		return cmd, &Error{Code: CodeUnknownOp, Message: "command needs an \"op\""}
	default:
		return cmd, &Error{Code: CodeUnknownOp, Message: fmt.Sprintf("op %q is not known; known: subscribe, unsubscribe, publish, ping", truncate(cmd.Op, 32))}
	}
	return cmd, nil
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
