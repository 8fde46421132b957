package endpoint

// rawRequest takes any body as it is: the backend decides what it means.
type rawRequest struct{}

// Read implements RequestFormat.
func (rawRequest) Read([]byte) (Message, error) { return Message{}, nil }

// Interface guard
var _ RequestFormat = rawRequest{}
