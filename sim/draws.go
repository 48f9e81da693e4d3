package sim

import "github.com/herd-drill/herd/sim/internal/draw"

// draws are a fleet's named random streams: every random choice of a run
// is drawn from one of them, keyed by what it is about (a camera, an
// account, an attempt), so the same seed gives the same run everywhere.
// The layout's own draws are Layout's.
type draws struct {
	ramp   draw.Stream // when a camera first dials, within the ramp
	events draw.Stream // the gaps between a camera's events
	retry  draw.Stream // a reconnect policy's jitter

	appActive    draw.Stream // which accounts keep the app open
	appFirstPoll draw.Stream // when within its first interval an open app first polls
	surge        draw.Stream // which accounts open the app after an outage
	surgeAt      draw.Stream // when within the surge window they do
	auditSample  draw.Stream // which events' thumbnails the audit fetches, below a share of 1

	// An app user's decisions, keyed by its account and its count of them.
	appLive      draw.Stream // whether it opens live view
	appThumb     draw.Stream // whether it opens a listed event's thumbnail
	appLiveCam   draw.Stream // which of its cameras live view shows
	probe        draw.Stream // whether it probes another account
	probeVictim  draw.Stream // whose
	probeKind    draw.Stream // how: list, cursor, thumbnail or live
	probeLiveCam draw.Stream // which of the victim's cameras
	probeThumb   draw.Stream // which of the victim's recent thumbnails
	probeCam     draw.Stream // or which camera's acked event
	probeSeq     draw.Stream // and which of its events
}

func newDraws(seed uint64) draws {
	s := func(name string) draw.Stream { return draw.New(seed, name) }
	return draws{
		ramp: s("ramp"), events: s("events"), retry: s("retry"),
		appActive: s("app.active"), appFirstPoll: s("app.first-poll"), surge: s("app.surge"), surgeAt: s("app.surge-at"), auditSample: s("audit.sample"),
		appLive: s("app.live"), appThumb: s("app.thumbnail"), appLiveCam: s("app.live-camera"),
		probe: s("probe"), probeVictim: s("probe.victim"), probeKind: s("probe.kind"), probeLiveCam: s("probe.live-camera"),
		probeThumb: s("probe.thumbnail"), probeCam: s("probe.camera"), probeSeq: s("probe.seq"),
	}
}
