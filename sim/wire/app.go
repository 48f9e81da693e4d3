package wire

// EventInfo is one event as the Events tab lists it.
type EventInfo struct {
	ID       string `json:"id"`
	Device   string `json:"device"`
	Account  string `json:"account"`
	Seq      uint64 `json:"seq"`
	At       int64  `json:"at"`
	Kind     string `json:"kind"`
	ThumbURL string `json:"thumb_url"`
}

// EventsPage is one page of the Events tab.
type EventsPage struct {
	Events []EventInfo `json:"events"`
	Next   string      `json:"next"`
	More   bool        `json:"more"`
}

// MaxPage is the largest limit an Events-tab request may ask for.
const MaxPage = 500

// ErrorBody is the JSON body of every non-2xx HTTP answer of the reference
// target. Other targets may answer with any body.
type ErrorBody struct {
	Error string `json:"error"`
}
