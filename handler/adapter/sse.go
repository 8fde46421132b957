package adapter

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// Defaults of the assembler's bounds.
const (
	// DefaultMaxStreamText bounds the assembled text kept for the
	// history; the stream itself passes through whole.
	DefaultMaxStreamText = 1 << 20
	// maxEventData bounds one event's data: OpenAI's chunks are a few
	// hundred bytes; a bigger one is skipped, and the text marked cut.
	maxEventData = 256 << 10
)

// Streamed is an OpenAI streamed answer, assembled.
type Streamed struct {
	ID    string
	Model string
	// Text is the concatenation of choices[0].delta.content.
	Text         string
	FinishReason string
	// Usage is set when a chunk carried it (stream_options.include_usage
	// puts it in the last chunk before [DONE]).
	Usage *Usage
	// Done is set once "data: [DONE]" came: the stream ended as it
	// should, not cut off.
	Done bool
	// Truncated is set when Text is only the start of the answer, or a
	// chunk over the bound was skipped.
	Truncated bool
	// Err is an error the stream carried ({"error": {...}} as an event).
	Err *APIError
	// Chunks counts the events that were JSON chunks.
	Chunks int
}

// Assembler reads an OpenAI chat-completions event stream (text/event-
// stream) as it is written to it and assembles the answer. It is an
// io.Writer that never fails, so it can sit behind io.TeeReader or
// StreamWriter without changing what the caller gets. Memory is bounded:
// one event's data and the assembled text.
type Assembler struct {
	maxText int
	// line is the current line, up to maxEventData; overLine drops the
	// rest of a longer one.
	line     []byte
	overLine bool
	// lastCR: the previous byte ended a line with \r; a \n next is the
	// same line end.
	lastCR bool
	// data is the current event's data lines, joined by \n.
	data     []byte
	hasData  bool
	overData bool
	text     []byte
	textFull bool
	s        Streamed
}

// NewAssembler makes an assembler keeping at most maxText bytes of text
// (DefaultMaxStreamText if 0 or less).
func NewAssembler(maxText int) *Assembler {
	if maxText <= 0 {
		maxText = DefaultMaxStreamText
	}
	return &Assembler{maxText: maxText}
}

// Write implements io.Writer; it always takes all of p.
func (a *Assembler) Write(p []byte) (int, error) {
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\n' && a.lastCR:
			a.lastCR = false
		case c == '\n' || c == '\r':
			a.lastCR = c == '\r'
			a.endLine()
		default:
			a.lastCR = false
			// Copy the run up to the next line end at once.
			j := i
			for j < len(p) && p[j] != '\n' && p[j] != '\r' {
				j++
			}
			a.addToLine(p[i:j])
			i = j - 1
		}
	}
	return len(p), nil
}

func (a *Assembler) addToLine(b []byte) {
	if a.overLine {
		return
	}
	if len(a.line)+len(b) > maxEventData {
		a.overLine = true
		a.line = a.line[:0]
		return
	}
	a.line = append(a.line, b...)
}

// endLine handles one line of the SSE format: a blank line dispatches the
// event, "data:" lines add to it, comments and other fields are ignored.
func (a *Assembler) endLine() {
	line, over := a.line, a.overLine
	a.line, a.overLine = a.line[:0], false
	if over {
		a.overData = true
		a.hasData = true
		return
	}
	if len(line) == 0 {
		a.dispatch()
		return
	}
	field, value, _ := bytes.Cut(line, []byte(":"))
	if string(field) != "data" {
		return // "", "event", "id", "retry" and unknown fields
	}
	value = bytes.TrimPrefix(value, []byte(" "))
	if a.hasData {
		a.data = append(a.data, '\n')
	}
	a.hasData = true
	if len(a.data)+len(value) > maxEventData {
		a.overData = true
		return
	}
	a.data = append(a.data, value...)
}

// Finish handles an event left without its closing blank line by a
// stream that ended, and returns the answer. The assembler can still be
// read with Result.
func (a *Assembler) Finish() Streamed {
	if len(a.line) > 0 || a.overLine {
		a.endLine()
	}
	a.dispatch()
	return a.Result()
}

// Result is the answer assembled so far.
func (a *Assembler) Result() Streamed {
	s := a.s
	s.Text = string(a.text)
	return s
}

type streamChunk struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Content *string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usageJSON      `json:"usage"`
	Error json.RawMessage `json:"error"`
}

func (a *Assembler) dispatch() {
	data, had, over := a.data, a.hasData, a.overData
	a.data, a.hasData, a.overData = a.data[:0], false, false
	if over {
		a.s.Truncated = true
		return
	}
	if !had {
		return
	}
	if string(bytes.TrimSpace(data)) == "[DONE]" {
		a.s.Done = true
		return
	}
	var c streamChunk
	if json.Unmarshal(data, &c) != nil {
		return // not a chunk: keep-alives and foreign events pass unread
	}
	a.s.Chunks++
	if len(c.Error) > 0 && string(c.Error) != "null" {
		// Streams answer 200 before anything can go wrong.
		a.s.Err = ParseError(200, data)
	}
	if a.s.ID == "" {
		a.s.ID = c.ID
	}
	if a.s.Model == "" {
		a.s.Model = c.Model
	}
	if u, ok := c.Usage.usage(); ok {
		a.s.Usage = &u
	}
	for _, ch := range c.Choices {
		if ch.Index != 0 {
			continue // n > 1: the history keeps the first choice
		}
		if ch.Delta.Content != nil {
			a.appendText(*ch.Delta.Content)
		}
		if ch.FinishReason != nil && *ch.FinishReason != "" {
			a.s.FinishReason = *ch.FinishReason
		}
	}
}

func (a *Assembler) appendText(s string) {
	if a.textFull {
		return
	}
	if room := a.maxText - len(a.text); len(s) > room {
		cut := max(room, 0)
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
		a.s.Truncated, a.textFull = true, true
	}
	a.text = append(a.text, s...)
}

// Answer renders the assembled answer as the openai preset's answer
// expression renders a whole one: {"answer", "model", "usage",
// "finish_reason"}, so that an async task's result has the same shape
// whether the backend streamed or not.
func (s Streamed) Answer() json.RawMessage {
	type usage struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
		TotalTokens      int64 `json:"total_tokens"`
	}
	out := struct {
		Answer       string  `json:"answer"`
		FinishReason *string `json:"finish_reason"`
		Model        *string `json:"model"`
		Usage        *usage  `json:"usage"`
	}{Answer: s.Text}
	if s.FinishReason != "" {
		out.FinishReason = &s.FinishReason
	}
	if s.Model != "" {
		out.Model = &s.Model
	}
	if s.Usage != nil {
		out.Usage = &usage{s.Usage.Prompt, s.Usage.Completion, s.Usage.Total}
	}
	b, _ := json.Marshal(out) // plain fields always marshal
	return b
}
